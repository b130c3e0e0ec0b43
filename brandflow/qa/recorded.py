"""Find the text regions compose recorded for a creative file, so ``brandflow qa`` reads it as the run did.

The run reads the overlay text at the boxes compose recorded (:class:`~brandflow.records.TextRegion`); a
whole-image reading of the same file is a different measurement (issue 11: ``brandflow qa`` failed "Shop now" on
12 of 16 published creatives the run had passed). Two records lead from a file back to its regions, both found by
the file's sha256 (a renamed or edited file matches nothing and is read as any image):

* in a run folder: the creative's record ``creative-<sha256[:12]>.json`` beside ``creative.<ext>``;
* published with the ``file://`` target: the audit record ``<campaign>/_runs/<run>/manifest.json`` published beside
  the creatives; its job whose ``published.sha256`` is the file's (the marked file) holds the regions of its last
  attempt. The folders above the file are searched up to :data:`MAX_LEVELS` levels.

The same record gives the colours the creative's structured prompt asked for (``Creative.palette``; in a manifest
made before it was kept, the job's ``prompt.color_palette``), which the colour check counts as on-palette in the run,
and the inputs compose pasted with their boxes (``Creative.placed``), with which the identity check places a
packshot the keypoints cannot (held out: 3 of 104 photo creatives failed ``brandflow qa`` that the run had passed, a
lawn photo matched on 4–9 points). A placement counts only for a ``--reference`` with the recorded packshot's sha256,
and the pixels at the placement must still agree with it. A record is a file anyone can write, so nothing in it
replaces reading the pixels: the text check still reads the whole image for forbidden words
(:attr:`~brandflow.qa.base.CheckContext.placed_is_own`), where the run reads each pasted source once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from brandflow.colour import HEX_RE
from brandflow.records import Creative, PlacedImage, TextRegion, sha256_file

#: How many folders above a published file are searched for ``_runs/*/manifest.json``.
MAX_LEVELS = 6
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """What was recorded for a file: its text regions, the ``'#RRGGBB'`` colours its structured prompt asked for
    (``()`` when not recorded), the inputs pasted into it with their boxes in its pixels (``Creative.placed``) and the
    record they came from (a path, for the report)."""

    regions: tuple[TextRegion, ...]
    source: Path
    palette: tuple[str, ...] = ()
    placed: tuple[PlacedImage, ...] | None = None  # None: not recorded (a model drew the pixels, or an older record)


def _hexes(values: object) -> tuple[str, ...]:
    """The well-formed ``'#RRGGBB'`` strings of a record's list (a record is a file someone may have edited)."""
    return tuple(v for v in values if isinstance(v, str) and HEX_RE.match(v)) if isinstance(values, list) else ()


def _from_manifest(manifest: Path, sha: str) -> Recorded | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for job in data.get("jobs") or []:
        published = job.get("published") or {}
        if isinstance(published, dict) and published.get("sha256") == sha:
            attempts = [a for a in job.get("attempts") or [] if isinstance(a, dict) and a.get("creative")]
            if attempts:
                creative = attempts[-1]["creative"]
                prompt = job.get("prompt") if isinstance(job.get("prompt"), dict) else {}
                palette = creative.get("palette")
                placed = creative.get("placed")
                return Recorded(tuple(TextRegion.model_validate(r) for r in creative.get("regions") or []), manifest,
                                _hexes(palette if palette is not None else prompt.get("color_palette")),
                                None if placed is None else tuple(PlacedImage.model_validate(p) for p in placed))
    return None


def find_record(image: Path) -> Recorded | None:
    """What the run recorded for ``image`` (text regions, prompt palette, placements: the module notes), or ``None``
    when no record matches its sha256. Unreadable or malformed records are skipped (logged at debug level), never
    raised."""
    image = Path(image)
    try:
        sha = sha256_file(image)
    except OSError:
        return None
    record = image.with_name(f"creative-{sha[:12]}.json")
    if record.is_file():
        try:
            creative = Creative.model_validate_json(record.read_text(encoding="utf-8"))
            return Recorded(tuple(creative.regions), record, tuple(creative.palette or ()),
                            None if creative.placed is None else tuple(creative.placed))
        except (OSError, ValueError) as e:
            _log.debug("skipping %s: %s", record, e)
    folder = image.resolve().parent
    for level, d in enumerate([folder, *folder.parents]):
        if level > MAX_LEVELS:
            break
        runs = d / "_runs"
        if not runs.is_dir():
            continue
        manifests = sorted(runs.glob("*/manifest.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for manifest in manifests:
            try:
                found = _from_manifest(manifest, sha)
            except (ValueError, TypeError, AttributeError) as e:  # a malformed job: skipped, like an unreadable file
                _log.debug("skipping %s: %s", manifest, e)
                continue
            if found is not None:
                return found
    return None


__all__ = ["MAX_LEVELS", "Recorded", "find_record"]
