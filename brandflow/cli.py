"""The ``brandflow`` command line: validate, run and QA campaigns."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brandflow.errors import BrandflowError

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls from a closed network

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Declarative content pipelines on Prefect.")
console = Console(stderr=True)
out = Console()


def _fail(e: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {e}")
    return typer.Exit(2)


@app.command()
def validate(campaign: Annotated[Path, typer.Argument(help="campaign YAML")]) -> None:
    """Check a campaign, its brand kit, product feed and templates without generating anything."""
    from brandflow.spec import load_campaign
    from brandflow.tasks.catalog import load_feed
    from brandflow.tasks.plan import plan_jobs

    try:
        spec, brand = load_campaign(campaign)
        products, rejections = load_feed(spec.feed)
        jobs, template_rejections = plan_jobs(spec, brand, products)
    except BrandflowError as e:
        raise _fail(e) from None
    rejections += template_rejections
    out.print(f"[bold]{spec.name}[/] · brand {brand.name} · backend [cyan]{spec.generator.backend}[/] · template {spec.template}")
    out.print(
        f"{len(products)} products · {len(rejections)} rejected rows · "
        f"{len(spec.formats)} formats ({', '.join(f'{f.name} {f.width}×{f.height}' for f in spec.formats)}) · "
        f"{spec.variants} variants → [bold]{len(jobs)} creatives[/]"
    )
    if rejections:
        table = Table("source", "row", "product", "field", "reason", title="rejected rows")
        for r in rejections:
            table.add_row(Path(r.source).name, str(r.row), r.product_id or "", r.field or "", r.reason)
        out.print(table)
    out.print("[green]valid[/]")


@app.command()
def run(
    campaign: Annotated[Path, typer.Argument(help="campaign YAML")],
    only: Annotated[Optional[list[str]], typer.Option("--only", help="run only this product id (repeatable)")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="at most N products")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="run folder (default: runs/<campaign> beside the YAML)")] = None,
    publish: Annotated[Optional[str], typer.Option("--publish", help="publish target URI for this run, e.g. file:///srv/out")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show Prefect's task logs")] = False,
) -> None:
    """Run a campaign as a Prefect flow; writes manifest.json and report.html into the run folder."""
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from brandflow import progress
    from brandflow.flows.campaign import campaign_flow

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task_id = bar.add_task("creatives", total=None)
        unsubscribe = progress.subscribe(lambda stage, done, total: bar.update(task_id, completed=done, total=total))
        try:
            result = campaign_flow(str(campaign), str(out_dir) if out_dir else None, only, limit, publish)
        except BrandflowError as e:
            raise _fail(e) from None
        finally:
            unsubscribe()
    s = result.summary
    out.print(
        f"[bold]{s.jobs}[/] creatives from {s.products} products in {s.seconds:.1f} s: "
        f"[green]{s.published} published[/], [yellow]{s.held} held for review[/], [red]{s.failed} failed QA, {s.errors} errors[/]; "
        f"{s.rejected_rows} rejected rows; {s.attempts} attempts, {s.reused} reused"
    )
    out.print(f"report: {result.report}")


@app.command()
def qa(
    images: Annotated[list[Path], typer.Argument(help="images to check")],
    brand: Annotated[Path, typer.Option("--brand", help="brand-kit YAML")],
    expect_text: Annotated[Optional[list[str]], typer.Option("--expect-text", help="text that must be readable (repeatable)")] = None,
    reference: Annotated[Optional[list[Path]], typer.Option("--reference", help="reference packshot (repeatable)")] = None,
    checks: Annotated[str, typer.Option("--checks", help="comma-separated checks")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print every number as JSON")] = False,
) -> None:
    """QA any images (yours, an agency's) against a brand kit, expected text and reference packshots.

    Exit status: 0 all pass or warn, 1 some fail, 2 bad input.
    """
    from brandflow.imageio import load_rgb
    from brandflow.qa.base import CheckContext, run_checks
    from brandflow.records import CheckResult, QAResult
    from brandflow.spec import load_brand_kit

    try:
        kit = load_brand_kit(brand)
    except BrandflowError as e:
        raise _fail(e) from None
    names = [c.strip() for c in checks.split(",") if c.strip()] or (
        ["format", "text", "colour"] + (["identity"] if reference else [])
    )
    results: dict[str, QAResult] = {}
    for image in images:
        ctx = CheckContext(path=image, brand=kit, expected_text=tuple(expect_text or ()), references=tuple(reference or ()))
        try:
            results[str(image)] = run_checks(load_rgb(image), ctx, names)
        except BrandflowError as e:
            results[str(image)] = QAResult.combine([CheckResult(check="decode", verdict="fail", reasons=[str(e)])])
    if as_json:
        out.print_json(json.dumps({k: v.model_dump(mode="json") for k, v in results.items()}))
    else:
        for name, res in results.items():
            table = Table("check", "verdict", "reasons", title=f"{name}: {res.verdict}")
            for c in res.checks:
                table.add_row(c.check, c.verdict, "; ".join(c.reasons))
            out.print(table)
    raise typer.Exit(1 if any(r.verdict == "fail" for r in results.values()) else 0)


if __name__ == "__main__":
    app()
