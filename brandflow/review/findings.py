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

from brandflow.records import CheckResult, JobRecord, ModelLicence

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


def model_line(model: ModelLicence | None) -> str | None:
    """One line naming the model that made a creative and its licence, from the manifest's model record:
    ``'FLUX.2 [dev] · LicenseRef-FLUX-Non-Commercial-2.1 · recorded licence ACME-42'``,
    ``'brandflow compositor · no trained model'``; None for a manifest without the record (older runs)."""
    if model is None:
        return None
    if not model.trained:
        return f"{model.model} · no trained model"
    parts = [model.model, f"licence {model.licence}"]
    if model.commercial_use is False:
        parts.append(f"recorded licence {model.recorded_licence}" if model.recorded_licence
                     else "no commercial use" + (" (non-commercial campaign)" if model.usage == "non-commercial" else ""))
    elif model.commercial_use is None:
        parts.append("commercial use unknown")
    return " · ".join(parts)


def moderation_line(job: JobRecord) -> str | None:
    """The moderation check's scores on one line (0–1, higher is worse; see brandflow/qa/moderation.py):
    ``'nudity 0.04 · violence 0.03 · BFL: Ready (pass, safety_tolerance 2)'``; a category without a detector reads
    ``'violence not checked'``. None when the moderation check did not run on this creative."""
    qa = job.final.qa
    check = next((c for c in qa.checks if c.check == "moderation"), None) if qa is not None else None
    if check is None:
        return None
    m = check.metrics
    parts = []
    for category in ("nudity", "violence"):
        score = m.get(f"{category}_score")
        parts.append(f"{category} {score:.2f}" if isinstance(score, (int, float)) else f"{category} not checked")
    if isinstance(m.get("provider"), str):
        parts.append(m["provider"])
    return " · ".join(parts)


#: what no machine checked, by moderation category: shown once in the report's summary
UNCHECKED = {
    "nudity": "nudity / sexual content is not checked automatically",
    "violence": "violence is not checked automatically",
}


def unchecked_lines(jobs: list[JobRecord]) -> list[str]:
    """What no machine looked at in this run, one line each, for the report's summary: categories whose detector
    was missing (or the moderation check not run at all), and what the violence detector does not cover.
    Every line ends in what a person must do."""
    made = [j for j in jobs if j.final.qa is not None]
    if not made:
        return []
    checks = [next((c for c in j.final.qa.checks if c.check == "moderation"), None) for j in made]
    if all(c is None for c in checks):
        return ["Moderation did not run: nudity and violence are not checked automatically — a person must look at every creative "
                "(add moderation to qa.checks; README, “Fit to publish”)"]
    out = []
    for category in ("nudity", "violence"):
        missing = sum(1 for c in checks if c is None or not isinstance(c.metrics.get(f"{category}_score"), (int, float)))
        if missing:
            out.append(f"{UNCHECKED[category][:1].upper()}{UNCHECKED[category][1:]} on {missing} of {len(made)} creatives "
                       "(no detector installed, or not in qa.moderation.categories) — a person must look")
    if any(c is not None and isinstance(c.metrics.get("violence_score"), (int, float)) for c in checks):
        out.append("Violence is checked for graphic content only: weapons, threats and fights without injury — a person must look")
    return out
