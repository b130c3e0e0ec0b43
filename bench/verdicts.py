"""Compare the QA decisions of two runs of one campaign, creative by creative (e.g. before and after a change).

    python bench/verdicts.py RUN_A/manifest.json RUN_B/manifest.json

For every job of either manifest: its status, the number of attempts, and per attempt the seed, the creative's
pixels (sha256 of the file: equal bytes mean equal pixels; a different encoding of the same pixels shows as a
difference and is then checked by decoding both files), the overall QA verdict and each check's verdict. Prints the
differences and a one-line summary; exit status 0 when every decision is the same, 1 otherwise. Timings, metrics
and reasons' wording are not compared (a faster method may word a finding differently).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def decisions(manifest: Path) -> dict[str, dict]:
    """``job_id → {status, attempts: [{seed, sha256, path, verdict, checks: {name: verdict}}]}`` of one manifest."""
    data = json.loads(manifest.read_text(encoding="utf-8"))
    out = {}
    for job in data["jobs"]:
        attempts = []
        for a in job["attempts"]:
            qa = a.get("qa") or {}
            creative = a.get("creative") or {}
            attempts.append({"seed": a["seed"], "sha256": creative.get("sha256"), "path": creative.get("path"),
                             "verdict": qa.get("verdict"), "error": a.get("error"),
                             "checks": {c["check"]: c["verdict"] for c in qa.get("checks", [])}})
        out[job["job_id"]] = {"status": job["status"], "attempts": attempts}
    return out


def same_pixels(a: str | None, b: str | None) -> bool:
    """Whether two creative files decode to the same pixels (both missing counts as the same)."""
    if a is None or b is None:
        return a == b
    import numpy as np

    from brandflow.imageio import load_rgb

    try:
        return bool(np.array_equal(load_rgb(a), load_rgb(b)))
    except Exception:  # noqa: BLE001 — a file gone: not provably the same
        return False


def compare(a: dict[str, dict], b: dict[str, dict]) -> tuple[list[str], dict[str, int]]:
    """The differences between two :func:`decisions` maps, and counts: jobs, same decisions, same bytes, same pixels."""
    diffs: list[str] = []
    counts = {"jobs": len(set(a) | set(b)), "same_decisions": 0, "same_bytes": 0, "same_pixels": 0, "attempts": 0}
    for job_id in sorted(set(a) | set(b)):
        x, y = a.get(job_id), b.get(job_id)
        if x is None or y is None:
            diffs.append(f"{job_id}: only in {'B' if x is None else 'A'}")
            continue
        ok = x["status"] == y["status"] and len(x["attempts"]) == len(y["attempts"])
        if not ok:
            diffs.append(f"{job_id}: status {x['status']} / {y['status']}, attempts {len(x['attempts'])} / {len(y['attempts'])}")
        for i, (p, q) in enumerate(zip(x["attempts"], y["attempts"]), 1):
            counts["attempts"] += 1
            if (p["seed"], p["verdict"], p["checks"], p["error"]) != (q["seed"], q["verdict"], q["checks"], q["error"]):
                ok = False
                diffs.append(f"{job_id} attempt {i}: {p['verdict']} {p['checks']} / {q['verdict']} {q['checks']}")
            if p["sha256"] == q["sha256"]:
                counts["same_bytes"] += 1
                counts["same_pixels"] += 1
            elif same_pixels(p["path"], q["path"]):
                counts["same_pixels"] += 1
            else:
                diffs.append(f"{job_id} attempt {i}: other pixels")
        counts["same_decisions"] += ok
    return diffs, counts


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print(__doc__)
        return 2
    diffs, c = compare(decisions(Path(args[0])), decisions(Path(args[1])))
    for d in diffs:
        print(d)
    print(f"{c['same_decisions']} of {c['jobs']} jobs decided the same (status, attempts, every check's verdict); "
          f"{c['attempts']} attempts compared: {c['same_bytes']} byte-identical creatives, {c['same_pixels']} with identical pixels")
    return 0 if not diffs else 1


if __name__ == "__main__":
    sys.exit(main())
