"""`brandflow qa` on a finished run's published creatives, every check, against the run's own verdicts.

Issue 11 asks for one QA wherever the image came from: a reviewer who runs ``brandflow qa`` on a creative the run
published must get the run's decision. ``bench/qa_text.py --agreement`` compares the text check only; this compares
each check the campaign ran (``qa.checks``), with the command a user types:

    brandflow qa FILE --brand BRAND --reference PACKSHOT… --checks CHECKS --json

(``--reference``: the job's packshots, as the manifest records them), in this process through Typer's runner, one
creative at a time. ``format`` is left out: the command knows no channel format, so its format check measures
something else by design. Counts only; nothing here is timed or asserted.

    python bench/qa_agreement.py RUN_DIR[=LABEL] …   # after brandflow run … --out RUN_DIR

The README's figures: the example (``brandflow run examples/saleor/campaign.yaml --out A``) and the held-out photos
campaign (``make_campaign(folder, "photos")`` of bench/campaign.py, then ``brandflow run folder/campaign.yaml --out B``):
``python bench/qa_agreement.py "A=the example" "B=held out: the photos campaign"``.

Writes ``bench/results/qa-agreement.md`` (``--out``; ``--no-write`` prints only).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from typer.testing import CliRunner

from brandflow.cli import app
from brandflow.spec import load_campaign


def compare(run_dir: Path, limit: int | None = None) -> tuple[Counter, Counter, list[str]]:
    """``(creatives per check, agreements per check, first disagreements)`` for one finished run folder."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    spec, _ = load_campaign(Path(manifest["spec_path"]))
    brand = Path(manifest["spec_path"]).parent / spec.brand_kit
    checks = [c for c in spec.qa.checks if c != "format"]
    n, same, differ = Counter(), Counter(), []
    runner = CliRunner()
    jobs = [j for j in manifest["jobs"] if (j.get("published") or {}).get("uri", "").startswith("file://")]
    for job in jobs[:limit]:
        path = job["published"]["uri"][len("file://"):]
        refs = [r["path"] for r in job["references"] if r["role"] in ("primary_packshot", "alternate_view")]
        args = ["qa", path, "--brand", str(brand), "--checks", ",".join(checks), "--json"]
        for ref in refs:
            args += ["--reference", ref]
        res = runner.invoke(app, args)
        if res.exit_code not in (0, 1):
            raise SystemExit(f"brandflow qa {path} exited {res.exit_code}: {res.output[-500:]}")
        standalone = {c["check"]: c for c in json.loads(res.output)[path]["checks"]}
        run = {c["check"]: c for c in job["attempts"][-1]["qa"]["checks"]}
        for check in checks:
            n[check] += 1
            a, b = run[check]["verdict"], standalone[check]["verdict"]
            same[check] += a == b
            if a != b and len(differ) < 12:
                differ.append(f"- {job['published']['key']} {check}: run {a}, brandflow qa {b}: "
                              f"{'; '.join(standalone[check]['reasons'])[:220]}")
    return n, same, differ


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="finished run folders (published with the file:// target), each optionally "
                    "=LABEL for the heading")
    ap.add_argument("--limit", type=int, default=None, help="the first N published creatives of each run")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "qa-agreement.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()
    lines = [f"# bench/qa_agreement.py — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, code at {commit}", ""]
    for arg in args.runs:
        folder, _, label = arg.partition("=")
        run_dir = Path(folder)
        n, same, differ = compare(run_dir, args.limit)
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        block = [f"## {label or manifest['campaign']} ({sum(n.values()) // max(1, len(n))} published creatives): "
                 "`brandflow qa` (every check but format) vs the run", "",
                 "| check | agrees with the run |", "|---|---|",
                 *(f"| {check} | {same[check]}/{n[check]} |" for check in n), "",
                 *(differ or ["No disagreement."]), ""]
        print("\n".join(block), flush=True)
        lines += block
    if not args.no_write:
        args.out.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
