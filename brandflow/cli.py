"""The ``brandflow`` command line: validate, run and QA campaigns."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brandflow.errors import BrandflowError

if TYPE_CHECKING:  # imported where used: `brandflow --help` and `validate` load no more than they need
    from brandflow.manifest import RunSummary
    from brandflow.pipeline.noop import FinishedRun
    from brandflow.pipeline.preflight import Preflight
    from brandflow.spec import CampaignSpec

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls from a closed network
os.environ.setdefault("DO_NOT_TRACK", "1")  # nor from Prefect's client (it would also print a notice into the run's output)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Declarative content pipelines on Prefect.")
# Not a terminal (a pipe, CI logs): no hard wrapping, so paths and URLs stay whole and greppable.
console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
out = Console(soft_wrap=not sys.stdout.isatty())


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"brandflow {version('brandflow')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
            print("brandflow (not installed)")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
) -> None:
    """Declarative content pipelines on Prefect."""


def _fail(e: Exception, code: int = 2, as_json: bool = False) -> typer.Exit:
    """Print ``e`` (user text escaped: ids and column names may hold ``[/x]``, which Rich would read as
    markup), or with ``as_json`` a JSON object naming its file, field and fix, and return the exit to raise:
    2 bad input by default."""
    from rich.markup import escape

    if as_json:
        out.print_json(json.dumps({"valid": False, "error": {"type": type(e).__name__, "message": str(e), **_where(e)}}))
    else:
        console.print(f"[bold red]error:[/] {escape(str(e))}")
    return typer.Exit(code)


def _where(e: Exception) -> dict[str, str]:
    """The file, field, reason and fix of a spec error, for ``--json``."""
    fields = {k: getattr(e, k) for k in ("path", "field", "reason", "fix") if getattr(e, k, None) is not None}
    return {k: str(v) for k, v in fields.items()}


@app.command()
def validate(
    campaign: Annotated[Path, typer.Argument(help="campaign YAML")],
    as_json: Annotated[bool, typer.Option("--json", help="print the result (or the error) as JSON")] = False,
) -> None:
    """Check a campaign, its brand kit, product feed, templates and every plugin's options without generating
    anything, and print what the run would cost. Exit status: 0 valid, 2 not."""
    from rich.markup import escape

    from brandflow.pipeline.preflight import preflight

    try:
        checked = preflight(campaign)
    except BrandflowError as e:
        raise _fail(e, as_json=as_json) from None
    if as_json:
        out.print_json(json.dumps(checked.as_dict()))
        raise typer.Exit(2 if checked.problems() else 0)
    spec, brand, licence, cost, rejections = checked.spec, checked.brand, checked.licence, checked.cost, checked.rejections
    products, jobs = checked.products, checked.jobs
    out.print(f"[bold]{escape(spec.name)}[/] · brand {escape(brand.name)} · backend [cyan]{escape(spec.generator.backend)}[/] · template {escape(spec.template)}")
    out.print(
        f"{len(products)} products · {len(rejections)} rejected rows · "
        f"{len(spec.formats)} formats ({', '.join(f'{f.name} {f.width}×{f.height}' for f in spec.formats)}) · "
        f"{spec.variants} variants"
        + (f" · {len(spec.locales)} markets ({escape(', '.join(m.code for m in spec.locales))})" if spec.locales else "")
        + f" → [bold]{len(jobs)} creatives[/]"
    )
    if rejections:
        table = Table("source", "row", "product", "market", "field", "reason", title="rejected rows")
        for r in rejections:
            table.add_row(*(escape(v) for v in (Path(r.source).name, str(r.row), r.product_id or "", r.locale or "all",
                                                r.field or "", r.reason)))
        out.print(table)
    recorded = f" · recorded licence {licence.recorded_licence}" if licence.recorded_licence else ""
    out.print(escape(f"model {licence.model} · licence {licence.licence} · usage {spec.usage}{recorded}"))
    out.print(escape(cost.summary()))
    if cost.over_budget:
        out.print("[yellow]warning:[/] the estimate is over budget.max_cost: the run stops generating once the budget is reached")
    if problems := checked.problems():
        for problem in problems:
            console.print(f"[bold red]error:[/] {escape(problem)}")
        raise typer.Exit(2)
    out.print("[green]valid[/]")


@app.command()
def run(
    campaign: Annotated[Path, typer.Argument(help="campaign YAML")],
    only: Annotated[Optional[list[str]], typer.Option("--only", help="run only this product id (repeatable)")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="at most N products")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="run folder (default: runs/<campaign> beside the YAML)")] = None,
    publish: Annotated[Optional[str], typer.Option("--publish", help="publish target URI for this run, e.g. file:///srv/out")] = None,
    workers: Annotated[
        Optional[int], typer.Option("--workers", min=1, max=64, help="threads for generate/compose/QA tasks (default: BRANDFLOW_TASK_WORKERS or 3)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show Prefect's task logs")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the run's summary as JSON (progress still goes to stderr)")] = False,
) -> None:
    """Run a campaign as a Prefect flow; writes manifest.json and report.html into the run folder.

    The campaign is checked as ``brandflow validate`` checks it before Prefect starts: a broken one fails at once
    with the same message.

    Exit status: 0 every creative published or held for review, 1 some failed QA or errored, 2 bad input,
    3 the run itself failed (its manifest.json and report.html still record what happened).
    """
    from rich.markup import escape

    from functools import partial

    from brandflow import progress
    from brandflow.pipeline.preflight import preflight
    from brandflow.targets import allowing, as_uri

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=not console.is_terminal) as bar:
        task_id = bar.add_task("checking the campaign", total=None)
        try:
            checked = preflight(campaign, None if only or limit else partial(_checked_images, campaign, out_dir))
            publish = as_uri(publish) if publish else None
        except BrandflowError as e:
            bar.stop()
            raise _fail(e, as_json=as_json) from None
        if checked.feed_problems:
            bar.stop()
            raise _fail(BrandflowError("; ".join(checked.feed_problems)), as_json=as_json)
        if not (only or limit):
            bar.update(task_id, description="checking the run folder")
            try:
                with allowing(publish):
                    finished = _already_done(checked, campaign, out_dir, publish, verbose)
            except BrandflowError as e:
                bar.stop()
                raise _fail(e, as_json=as_json) from None
            if finished is not None:
                bar.stop()
                _print_result(finished.manifest.summary, finished.manifest_path.parent, finished.manifest_path, finished.report,
                              finished.published_report, finished.manifest.exit_code, as_json, noop=True)
        bar.update(task_id, description="starting Prefect")
        if not verbose:
            os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        # Prefect's 20 s for its temporary server to answer is too short on a busy 2-core machine
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
        from brandflow.flows.ephemeral import start_temporary_server

        server = start_temporary_server()  # without PREFECT_API_URL: boots on the other core while the flow's modules load
        from brandflow.flows.campaign import campaign_flow
        from brandflow.flows.quiet import quiet_server_shutdown
        from brandflow.pipeline.record import RunFailedError

        quiet_server_shutdown()
        if workers is not None:  # QA is CPU-bound: more threads than cores only help while others wait on a GPU or an API
            from prefect.task_runners import ThreadPoolTaskRunner

            campaign_flow = campaign_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
        bar.update(task_id, description="starting the flow")
        shown = [task_id]

        def show(stage: str, done: int, total: int) -> None:  # a stage without a count (total 0): its name, no n/m
            if total:
                bar.update(shown[0], description=stage, completed=done, total=total)
            else:
                bar.remove_task(shown[0])
                shown[0] = bar.add_task(stage, total=None)

        unsubscribe = progress.subscribe(show)
        try:  # whoever types the command is this process's operator: their own --publish is allowed for this run
            if server is not None:
                bar.update(shown[0], description="waiting for Prefect's temporary server")
                server.ready()
            with allowing(publish):
                result = campaign_flow(str(campaign), str(out_dir) if out_dir else None, only, limit, publish)
        except RunFailedError as e:
            bar.stop()
            raise _fail(e, 3, as_json) from None
        except BrandflowError as e:
            bar.stop()
            raise _fail(e, as_json=as_json) from None
        except Exception as e:  # noqa: BLE001 — a bug or an outage: say what, no traceback, exit 3 (-v: the traceback)
            bar.stop()
            if verbose:
                raise
            from brandflow.redact import redact

            raise _fail(RuntimeError(redact(f"the run failed: {type(e).__name__}: {e}")), 3, as_json) from None
        finally:
            unsubscribe()
    _print_result(result.summary, result.run_dir, result.manifest, result.report, result.published_report, result.exit_code, as_json)


def _checked_images(campaign: Path, out_dir: Optional[Path], spec: CampaignSpec) -> dict[str, str]:
    """The packshots the run folder's last run checked (:func:`brandflow.pipeline.noop.checked_images`)."""
    from brandflow.pipeline.noop import checked_images
    from brandflow.pipeline.plan import run_folder

    return checked_images(run_folder(spec, campaign, out_dir))


def _already_done(checked: Preflight, campaign: Path, out_dir: Optional[Path], publish: Optional[str],
                  verbose: bool) -> FinishedRun | None:
    """The run folder's :class:`~brandflow.pipeline.noop.FinishedRun` when it already holds this run, done
    (nothing to do: Prefect is not started), else ``None``; ``verbose`` says why not."""
    from brandflow.pipeline.noop import finished_run
    from brandflow.pipeline.plan import run_folder, run_target
    from brandflow.targets import check_publish_target

    run_dir = run_folder(checked.spec, campaign, out_dir)
    target = run_target(checked.spec, run_dir, publish)
    if publish:  # as the flow checks it (preflight checked the campaign's own target)
        check_publish_target(target, runtime=True)
    finished, why = finished_run(checked, campaign, run_dir, target)
    if finished is None and verbose:
        console.print(f"running the flow: {escape(why)}")
    if finished is not None:
        console.print(f"nothing to do: {escape(str(run_dir))} already holds this run, every creative done and published or kept "
                      "aside, manifest.json and report.html current; Prefect not started, no file written")
    return finished


def _print_result(s: RunSummary, run_dir: Path, manifest: Path, report: Path, published_report: Optional[str], code: int,
                  as_json: bool, noop: bool = False) -> None:
    """Print a run's summary (or, with ``as_json``, everything as JSON; ``noop``: nothing was run, the summary is
    the earlier run's record) and exit with ``code``."""
    if as_json:
        out.print_json(json.dumps({"summary": s.model_dump(mode="json"), "run_dir": str(run_dir), "manifest": str(manifest),
                                   "report": str(report), "published_report": published_report, "exit_code": code, "noop": noop}))
        raise typer.Exit(code)
    out.print(
        f"[bold]{s.jobs}[/] creatives from {s.products} products in {s.seconds:.1f} s: "
        f"[green]{s.published} published[/], [yellow]{s.held} held for review[/], [red]{s.failed} failed QA, {s.errors} errors[/]; "
        f"{s.rejected_rows} rejected rows; {s.attempts} attempts, {s.reused} reused"
        + (" (the record of the run that did the work)" if noop else "")
    )
    out.print(f"report: {escape(str(report))}")
    if published_report:
        out.print(f"published report: {escape(published_report)}")
    raise typer.Exit(code)


@app.command()
def qa(
    images: Annotated[list[Path], typer.Argument(help="images to check")],
    brand: Annotated[Path, typer.Option("--brand", help="brand-kit YAML")],
    expect_text: Annotated[Optional[list[str]], typer.Option("--expect-text", help="text that must be readable (repeatable)")] = None,
    reference: Annotated[Optional[list[Path]], typer.Option("--reference", help="reference packshot (repeatable)")] = None,
    checks: Annotated[str, typer.Option("--checks", help="comma-separated checks")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print every number as JSON")] = False,
    recorded: Annotated[bool, typer.Option("--recorded/--whole-image", help="check as the run did, from the creative's "
                                           "record (run folder or published manifest found by the file's sha256): text "
                                           "where compose drew it, packshots where it pasted them")] = True,
    palette: Annotated[Optional[list[str]], typer.Option("--palette", help="'#RRGGBB' colours the image was asked for "
                                                        "besides the brand kit's (repeatable or comma-separated); a "
                                                        "creative's record adds its prompt's own")] = None,
) -> None:
    """QA any images (yours, an agency's) against a brand kit, expected text and reference packshots.

    On a creative brandflow made, its record (run folder or published manifest, found by the file's sha256) gives
    what the run used: the text regions, where compose pasted each packshot (identity places a ``--reference`` with the
    recorded sha256 there, and its pixels must still agree) and the colours the structured
    prompt asked for, which the colour check's off-palette share counts besides the brand kit's and ``--palette``'s.
    ``--whole-image`` reads it as any image (the prompt's colours still count).

    Exit status: 0 all pass or warn, 1 some fail, 2 bad input.
    """
    from rich.markup import escape

    from brandflow.cachedir import QA_READINGS, shared_folder
    from brandflow.colour import HEX_RE
    from brandflow.imageio import load_rgb
    from brandflow.qa.base import CheckContext, run_checks
    from brandflow.qa.recorded import find_record
    from brandflow.records import CheckResult, QAResult
    from brandflow.spec import load_brand_kit

    try:
        kit = load_brand_kit(brand)
    except BrandflowError as e:
        raise _fail(e) from None
    names = [c.strip() for c in checks.split(",") if c.strip()] or (
        ["format", "text", "colour"] + (["identity"] if reference else [])
    )
    asked = tuple(_ids(palette))
    if bad := [h for h in asked if not HEX_RE.match(h)]:
        raise _fail(BrandflowError(f"--palette: {', '.join(bad)} is not a '#RRGGBB' colour; write it as #B4532A"))
    results: dict[str, QAResult] = {}
    readings = shared_folder(QA_READINGS)  # a reference packshot read by an earlier run or call is not read again
    for image in images:
        found = find_record(image)  # also with --whole-image: the colours the creative was asked for
        ctx = CheckContext(path=image, brand=kit, expected_text=tuple(expect_text or ()), references=tuple(reference or ()),
                           regions=found.regions if found and recorded else (), cache_dir=readings,
                           palette=asked + (found.palette if found else ()),
                           placed=found.placed if found and recorded else None, placed_is_own=False)
        if found and recorded and not as_json:
            out.print(f"{image}: text regions recorded by compose, from {found.source}")
        try:
            results[str(image)] = run_checks(load_rgb(image), ctx, names)
        except BrandflowError as e:
            results[str(image)] = QAResult.combine([CheckResult(check="decode", verdict="fail", reasons=[str(e)])])
    if as_json:
        out.print_json(json.dumps({k: v.model_dump(mode="json") for k, v in results.items()}))
    else:
        for name, res in results.items():
            table = Table("check", "verdict", "reasons", title=f"{escape(name)}: {res.verdict}")
            for c in res.checks:
                table.add_row(c.check, c.verdict, escape("; ".join(c.reasons)))
            out.print(table)
    raise typer.Exit(1 if any(r.verdict == "fail" for r in results.values()) else 0)


# --------------------------------------------------------------------------- production: deployments, serving, approval
def _ids(values: Optional[list[str]]) -> list[str]:
    """Repeatable options that also accept comma-separated values: ``--ids a,b --ids c``."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@app.command()
def deploy(
    file: Annotated[Path, typer.Option("--file", "-f", help="the prefect.yaml to register")] = Path("prefect.yaml"),
    name: Annotated[Optional[list[str]], typer.Option("--name", "-n", help="only this deployment (repeatable)")] = None,
    campaign: Annotated[Optional[Path], typer.Option("--campaign", help="instead: deploy this campaign file with its schedule")] = None,
    pool: Annotated[str, typer.Option("--pool", help="work pool for --campaign")] = "brandflow-cpu",
    catalog: Annotated[Optional[str], typer.Option("--catalog", help="--campaign also runs on brandflow.catalog.updated for this catalog")] = None,
    create_pools: Annotated[bool, typer.Option("--create-pools/--no-create-pools", help="create missing process work pools")] = True,
) -> None:
    """Register deployments on the Prefect server of PREFECT_API_URL: every deployment of prefect.yaml
    (schedules and event triggers included), or one campaign file with --campaign."""
    from brandflow.flows import deploy as d

    try:
        if campaign is not None:
            deployment_id = d.deploy_campaign(campaign, pool, name=(name or [None])[0], catalog=catalog, create_pool=create_pools)
            out.print(f"deployed {campaign} on pool [bold]{pool}[/] as deployment {deployment_id}")
            return
        created = d.deploy_from_yaml(file, names=name, create_pools=create_pools)
    except BrandflowError as e:
        raise _fail(e) from None
    if created:
        out.print(f"created work pools: {', '.join(created)}")
    out.print(f"deployed {', '.join(name) if name else 'all deployments'} from {file}; start a worker: "
              f"BRANDFLOW_PROJECT_DIR={file.resolve().parent} prefect worker start --pool brandflow-cpu")


@app.command()
def serve(
    campaign: Annotated[Path, typer.Argument(help="campaign YAML (its schedule: is served)")],
    name: Annotated[Optional[str], typer.Option("--name", help="deployment name (default: the campaign's slug)")] = None,
    catalog: Annotated[Optional[str], typer.Option("--catalog", help="also run on brandflow.catalog.updated for this catalog")] = None,
    triggers: Annotated[bool, typer.Option("--triggers/--no-triggers", help="react to brandflow.campaign.requested events")] = True,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="at most N runs at once")] = None,
) -> None:
    """Serve one campaign from this process until Ctrl-C: its schedule, its event triggers, and REST/UI runs."""
    from brandflow.flows import deploy as d

    try:
        d.serve_campaign(campaign, name=name, triggers=triggers, catalog=catalog, limit=limit)
    except BrandflowError as e:
        raise _fail(e) from None


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(help="the paused flow run's id")],
    approve_all: Annotated[bool, typer.Option("--all", help="approve every creative that passed QA")] = False,
    ids: Annotated[Optional[list[str]], typer.Option("--ids", help="approve these job ids (repeatable or comma-separated)")] = None,
    reject: Annotated[Optional[list[str]], typer.Option("--reject", help="reject these job ids (repeatable or comma-separated)")] = None,
    reason: Annotated[str, typer.Option("--reason", help="why: recorded in the manifest")] = "",
    reviewer: Annotated[Optional[str], typer.Option("--reviewer", help="who decides (default: your user name)")] = None,
    token: Annotated[Optional[str], typer.Option("--token", envvar="BRANDFLOW_REVIEWER_TOKEN", show_envvar=True,
                                                 help="your reviewer token: signs the decision (needed where reviewers are configured)")] = None,
    api: Annotated[Optional[str], typer.Option("--api", help="Prefect API URL (default: PREFECT_API_URL)")] = None,
) -> None:
    """Resume a campaign run waiting for approval with a decision, over the Prefect REST API.

    Creatives that passed QA and are not approved are not published; held (QA warn) creatives are
    published only when listed in --ids.
    """
    from brandflow.flows.approval import ApprovalError, ApprovalInput, default_reviewer, resume_run
    from brandflow.review import reviewers

    signer = reviewers.name_of(token) if token else None
    if token and signer is None:
        console.print("[bold red]error:[/] --token is not a reviewer token (they start with 'bfr1.'); ask the operator for yours")
        raise typer.Exit(2)
    answer = ApprovalInput(
        approve_all=approve_all, approve=_ids(ids), reject=_ids(reject), reason=reason,
        reviewer=signer or (reviewer if reviewer is not None else default_reviewer()),
    )
    if token:
        answer.signature = reviewers.sign(token, answer.payload(run_id))
    else:
        try:
            if reviewers.configured():
                console.print(f"[yellow]warning:[/] reviewers are configured in {reviewers.keyfile()}: a run on this machine refuses "
                              "an unsigned answer; pass --token (or BRANDFLOW_REVIEWER_TOKEN)")
        except BrandflowError:
            pass
    if not (answer.approve_all or answer.approve or answer.reject):
        console.print("[bold red]error:[/] say what to do: --all, --ids JOB_ID … and/or --reject JOB_ID …")
        raise typer.Exit(2)
    try:
        resume_run(run_id, answer, api_url=api)
    except ApprovalError as e:
        raise _fail(e) from None
    what = ["all that passed QA"] if answer.approve_all else []
    what += [f"approved {len(answer.approve)}"] if answer.approve else []
    what += [f"rejected {len(answer.reject)}"] if answer.reject else []
    out.print(escape(f"run {run_id} resumed: {', '.join(what)} (reviewer {answer.reviewer or 'unknown'})"))


@app.command()
def review(
    run: Annotated[str, typer.Argument(help="the run folder (runs/<campaign>) or the paused flow run's id")],
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="port on 127.0.0.1")] = 8765,
    api: Annotated[Optional[str], typer.Option("--api", help="Prefect API URL (default: PREFECT_API_URL)")] = None,
) -> None:
    """Serve a run's report on 127.0.0.1 to approve or reject its creatives; sending the decisions resumes
    the paused run (the same answer as `brandflow approve` and the Prefect UI)."""
    from functools import partial

    from brandflow.flows.approval import ApprovalError, paused_run_folder, resume_run
    from brandflow.review.app import create_app, serve

    folder = Path(run).expanduser()
    try:
        if not (folder / "manifest.json").is_file():
            if "/" in run or folder.exists():
                raise ApprovalError(f"{folder}: no manifest.json here; pass a run folder (runs/<campaign>) or a paused flow run id")
            folder = Path(paused_run_folder(run, api_url=api))
        review_app = create_app(folder, partial(resume_run, api_url=api))
    except (ApprovalError, FileNotFoundError) as e:
        raise _fail(e) from None
    out.print(f"reviewing {folder}: open http://127.0.0.1:{port}/ (Ctrl-C to stop)")
    serve(review_app, port=port)


reviewer_app = typer.Typer(no_args_is_help=True, help="Who may approve: reviewer tokens checked by the flow (see README, Reviewing).")
app.add_typer(reviewer_app, name="reviewer")


@reviewer_app.command("add")
def reviewer_add(name: Annotated[str, typer.Argument(help="the reviewer's name, as it goes into the manifest")]) -> None:
    """Add a reviewer (or re-issue their token, revoking the old one) and print the token once.

    Run it where the flow runs (the worker): the keyfile is $BRANDFLOW_REVIEWERS_FILE or ~/.config/brandflow/reviewers.json."""
    from brandflow.review import reviewers

    try:
        token = reviewers.add(name)
    except BrandflowError as e:
        raise _fail(e) from None
    console.print(f"reviewer [bold]{name.strip()}[/] added to {reviewers.keyfile()}; hand them this token (shown once):")
    out.print(token, markup=False, highlight=False)


@reviewer_app.command("remove")
def reviewer_remove(name: Annotated[str, typer.Argument(help="the reviewer to remove")]) -> None:
    """Remove a reviewer: their token stops working at once."""
    from brandflow.review import reviewers

    try:
        removed = reviewers.remove(name)
    except BrandflowError as e:
        raise _fail(e) from None
    if not removed:
        console.print(f"[bold red]error:[/] no reviewer {name!r} in {reviewers.keyfile()}")
        raise typer.Exit(2)
    out.print(f"removed {name}")


@reviewer_app.command("list")
def reviewer_list() -> None:
    """The reviewers of this machine's keyfile."""
    from brandflow.review import reviewers

    try:
        names = reviewers.names()
    except BrandflowError as e:
        raise _fail(e) from None
    out.print("\n".join(names) if names else f"no reviewers in {reviewers.keyfile()}: anyone who can reach the Prefect API can approve")


cache_app = typer.Typer(no_args_is_help=True, help="The shared cache of QA readings (BRANDFLOW_CACHE_DIR; README, What a run produces).")
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(as_json: Annotated[bool, typer.Option("--json", help="print a JSON object instead")] = False) -> None:
    """Where the cache is, how many readings it keeps and their size."""
    from rich.filesize import decimal

    from brandflow.cachedir import ENV, usage

    found = usage()
    if as_json:
        out.print_json(data=None if found is None else {"folder": str(found.folder), "files": found.files, "bytes": found.bytes})
    elif found is None:
        out.print(f"the shared cache is off ({ENV}); readings are kept in each run folder")
    else:
        out.print(f"{found.folder}: {found.files} readings, {decimal(found.bytes)}", markup=False, highlight=False)


@cache_app.command("clear")
def cache_clear(
    older_than: Annotated[Optional[float], typer.Option("--older-than", min=0, metavar="DAYS",
                                                         help="only readings no run has used for more than DAYS days")] = None,
) -> None:
    """Remove kept readings (all, or the old ones); each is read again when next needed. Files that brandflow did
    not write there are left alone."""
    from rich.filesize import decimal

    from brandflow.cachedir import ENV, prune

    try:
        removed = prune(older_than)
    except OSError as e:
        raise _fail(BrandflowError(f"cannot clear the cache: {e}; check the folder's owner and permissions")) from None
    if removed is None:
        out.print(f"the shared cache is off ({ENV}): nothing to clear")
    else:
        out.print(f"{removed.folder}: removed {removed.files} readings, {decimal(removed.bytes)}", markup=False, highlight=False)


if __name__ == "__main__":
    app()
