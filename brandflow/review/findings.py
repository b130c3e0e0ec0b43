"""What the report says about one creative: its findings to draw, its reasons in plain words, its score.

Read from the check results generically — by the *shape* of their metrics, not by check name — so a
check added later shows up without a change here:

- a dict with a ``box`` of 4 numbers ``[x0, y0, x1, y1]`` (pixels, origin top-left) is a finding drawn on
  the image, labelled by its ``text`` or ``label`` when it has one (OCR words, matched product regions);
  keys ending in ``_box`` (e.g. ``product_box``) are findings named by the key;
- a list of dicts with ``hex`` is a set of colour swatches (brand colours with ``nearest_*`` hex and
  ``delta_e``, dominant colours with ``coverage``);
- plain-language sentences a check provides (``metrics.plain`` / ``metrics.summary``) come first; then the
  region shape ``expected``/``read`` becomes "the price reads “$34.00”; the feed says “$39.00”"; other
  reasons are shown as the check wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from brandflow.records import CheckResult, JobRecord

MAX_BOXES = 300  # per creative: enough for every OCR word of a busy creative, bounded for a 1,000-creative report


@dataclass
class Findings:
    """Boxes (pixels ``[x0, y0, x1, y1]`` in the creative) and colour swatches (sRGB hex) to show a reviewer."""

    boxes: list[dict[str, Any]] = field(default_factory=list)
    swatches: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Compact form embedded in the page: ``{"b": [[kind, label, x0, y0, x1, y1, ok], …], "s": [...]}``."""
        return {
            "b": [[b["kind"], b["label"], *b["box"], b["ok"]] for b in self.boxes[:MAX_BOXES]],
            "s": self.swatches,
        }


def _as_box(value: Any) -> list[int] | None:
    if isinstance(value, dict) and {"x0", "y0", "x1", "y1"} <= value.keys():
        value = [value["x0"], value["y0"], value["x1"], value["y1"]]
    if isinstance(value, (list, tuple)) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value):
        return [int(round(v)) for v in value]
    return None


def _walk_boxes(check: CheckResult, node: Any, kind: str, out: list[dict[str, Any]], ok: bool) -> None:
    if isinstance(node, dict):
        box = _as_box(node.get("box"))
        if box is not None:
            label = str(node.get("text") or node.get("label") or node.get("slot") or "")
            out.append({"kind": kind, "label": label, "box": box, "ok": ok})
        for key, value in node.items():
            if key.endswith("_box") and _as_box(value) is not None:
                out.append({"kind": check.check, "label": key.removesuffix("_box").replace("_", " "), "box": _as_box(value), "ok": ok})
            elif key != "box":
                _walk_boxes(check, value, kind, out, ok)
    elif isinstance(node, list):
        for item in node:
            _walk_boxes(check, item, kind, out, ok)


def _swatches(check: CheckResult) -> list[dict[str, Any]]:
    out = []
    for key, value in check.metrics.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) and "hex" in v for v in value):
            for v in value[:12]:
                nearest = v.get("nearest_hex") or v.get("nearest_centre") or v.get("nearest")
                out.append({
                    "group": key, "name": str(v.get("name") or ""), "hex": v["hex"], "found": nearest if isinstance(nearest, str) else None,
                    "de": v.get("delta_e"), "cov": v.get("coverage"), "ok": v.get("verdict", "pass") == "pass",
                })
    return out


def findings_of(job: JobRecord) -> Findings:
    """The boxes and swatches of a job's final attempt: compose's text regions (where text was drawn),
    every box the checks report (OCR words, matched product regions), and colour swatches."""
    attempt = job.final
    found = Findings()
    if attempt.creative is not None:
        for r in attempt.creative.regions:
            found.boxes.append({"kind": "layout", "label": r.slot, "box": _as_box(r.box.model_dump()), "ok": True})
    if attempt.qa is not None:
        for check in attempt.qa.checks:
            ok = check.verdict == "pass"
            _walk_boxes(check, check.metrics, "ocr" if check.check == "text" else check.check, found.boxes, ok)
            found.swatches += _swatches(check)
    return found


def _plain_regions(check: CheckResult) -> list[str]:
    """Sentences for expected/read pairs that disagree (any check reporting ``regions`` of that shape)."""
    out = []
    min_ned = check.thresholds.get("min_ned")
    for r in check.metrics.get("regions") or []:
        if not isinstance(r, dict) or "expected" not in r or "read" not in r:
            continue
        ned = r.get("ned")
        bad = (ned is not None and min_ned is not None and ned < min_ned) or (ned is None and r["read"] != r["expected"])
        if not bad:
            continue
        slot = str(r.get("slot") or "text")
        read = str(r["read"]).strip()
        out.append(f"the {slot} reads “{read}”; the feed says “{r['expected']}”" if read
                   else f"the {slot} “{r['expected']}” cannot be read")
    return out


def _plain_colours(check: CheckResult) -> list[str]:
    out = []
    for c in check.metrics.get("colours") or []:
        if not isinstance(c, dict) or c.get("verdict", "pass") == "pass" or "hex" not in c:
            continue
        name = c.get("name") or c["hex"]
        de, limit = c.get("delta_e"), c.get("pass_delta_e") or check.thresholds.get("pass_delta_e")
        if de is None:
            out.append(f"the brand colour {name} ({c['hex']}) is missing")
        else:
            out.append(f"the brand colour {name} ({c['hex']}) is off: the closest colour in the image differs by ΔE00 {de:.1f}"
                       + (f" (up to {limit:g} passes)" if isinstance(limit, (int, float)) else ""))
    return out


def plain_reasons(job: JobRecord) -> list[str]:
    """Why this creative is not simply published, in words a marketer reads: the error, then each check
    that did not pass (its own plain sentences, else a sentence from its metrics' shape, else its reasons)."""
    attempt = job.final
    out: list[str] = []
    if attempt.error:
        out.append(f"could not be made: {attempt.error.splitlines()[0][:300]}")
    if attempt.qa is None:
        return out
    for check in sorted(attempt.qa.checks, key=lambda c: {"fail": 0, "warn": 1}.get(c.verdict, 2)):
        if check.verdict == "pass":
            continue
        plain = check.metrics.get("plain") or check.metrics.get("summary")
        if isinstance(plain, str):
            plain = [plain]
        sentences = [str(p) for p in plain] if isinstance(plain, list) and plain else _plain_regions(check) + _plain_colours(check)
        if not sentences:
            sentences = list(check.reasons) or [f"the {check.check} check says {check.verdict}"]
        out += [s[:1].upper() + s[1:] for s in sentences]
    return out


def score_of(job: JobRecord) -> float | None:
    """A 0–1 score to sort by (lowest first is worst): the minimum of every check's ``score`` metric and
    every text region's NED; None when no check reports either (errors sort first anyway)."""
    qa = job.final.qa
    if qa is None:
        return None
    values: list[float] = []
    for check in qa.checks:
        s = check.metrics.get("score")
        if isinstance(s, (int, float)) and 0 <= s <= 1:
            values.append(float(s))
        for r in check.metrics.get("regions") or []:
            if isinstance(r, dict) and isinstance(r.get("ned"), (int, float)):
                values.append(float(r["ned"]))
    return round(min(values), 3) if values else None
