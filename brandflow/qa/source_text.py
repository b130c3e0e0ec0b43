"""The letters of the images pasted into a creative, read once per run and reused.

A creative whose generator records what it pasted (:attr:`brandflow.records.Creative.placed`: the compositor's
packshots, compose's logo) has exactly two sources of letters: the texts compose drew (its ``regions``, which
text QA reads anyway) and those pasted images. Searching the brand's forbidden words then needs no OCR pass
over the whole creative (~0.1 s per 1080² image, ~0.2 s per story): each distinct source is read once — in
memory for the process, and in the run's work folder so that a resumed run reuses it — and its words count
for every creative it was pasted into. A creative without such a record (FLUX.2, Black Forest Labs, an agency
file) is read whole, as before.

Detection power: a source is read at least as large as it appears in any creative that uses it (its own
pixels, capped at :data:`SOURCE_SIDE` unless a creative shows it larger), on a plain matte in place of its
transparent pixels (white, and black inverted when it has light pixels: :func:`on_matte`), so each of its words is
at least as legible as in the creative, without the creative's backdrop behind it. Words of a source hidden in a creative (under an overlay plate, past the frame) still
count: a false alarm costs a look, a missed word a wrong publish. Tests: ``tests/qa/test_source_text.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from threading import Lock

import cv2
import numpy as np

from brandflow.imageio import INPUT_MAX_SIDE, load_rgba, write_atomic
from brandflow.qa.words import Word
from brandflow.records import PlacedImage, sha256_file

#: Longest side a source is read at, px, unless a creative shows it larger: the size of a 1080-px format's
#: product box and more; a source is never upscaled (its own pixels bound what any creative can show).
SOURCE_SIDE = 1024
#: Readings kept in memory (a campaign's distinct packshots and its logo).
CACHE_SIZE = 256
#: Opaque pixels are those with alpha at least this (0–255); the rest shows the matte.
OPAQUE = 128
#: A source with transparency is also read inverted on black when this share of its opaque pixels is light
#: (luma ≥ :data:`LIGHT_LUMA`, 0–255): letters lighter than anything around them would vanish on white.
LIGHT_LUMA, LIGHT_SHARE = 160, 0.02
_log = logging.getLogger(__name__)

#: ``(sha256, reader label)`` → ``(read side, native side, words)``, boxes in source pixels at the read size.
_memory: OrderedDict[tuple[str, str], tuple[int, int, list[Word]]] = OrderedDict()
_lock = Lock()


def read_side(source: PlacedImage, native_side: int) -> int:
    """The longest side, px, ``source`` is read at: its ``native_side`` capped at :data:`SOURCE_SIDE`, or the side
    of its box in the creative when that is larger (never more than ``native_side``)."""
    shown = max(source.box.x1 - source.box.x0, source.box.y1 - source.box.y0)
    return max(1, min(native_side, max(SOURCE_SIDE, shown)))


def on_matte(rgba: np.ndarray) -> list[np.ndarray]:
    """The ``(H, W, 3) uint8`` sRGB views of an ``(H, W, 4) uint8`` sRGB + alpha source that OCR reads: flattened
    onto white (dark letters on a transparent ground or on the product stay dark on light); and, when the source has
    transparent pixels (alpha < :data:`OPAQUE`) and light ones (≥ :data:`LIGHT_SHARE` of its opaque pixels with Rec.
    601 luma ≥ :data:`LIGHT_LUMA`), also flattened onto black and inverted, so light letters on a transparent ground
    (a white wordmark) become dark on white too — Tesseract with Sauvola binarisation in sparse mode does not read
    light-on-dark text (measured: a white 64 px word on black read as nothing, inverted read exactly)."""
    rgb = rgba[..., :3].astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    views = [np.clip(rgb * alpha + 255.0 * (1.0 - alpha) + 0.5, 0, 255).astype(np.uint8)]
    opaque = rgba[..., 3] >= OPAQUE
    if opaque.any() and not opaque.all():
        luma = rgba[..., :3][opaque].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
        if float(np.mean(luma >= LIGHT_LUMA)) >= LIGHT_SHARE:
            views.append(255 - np.clip(rgb * alpha + 0.5, 0, 255).astype(np.uint8))
    return views


def _file(cache_dir: Path, sha: str, side: int, label: str) -> Path:
    tag = hashlib.sha256(f"{side}|{label}".encode()).hexdigest()[:16]
    return cache_dir / f"{sha}-{tag}.json"


def source_words(source: PlacedImage, reader: Callable[[np.ndarray], list[Word]], label: str,
                 cache_dir: Path | None = None) -> tuple[list[Word], bool]:
    """The words ``reader`` finds in the pasted image ``source``, read once per (content, read size, reader).

    Args:
        source: a pasted input (path, sha256, box in the creative).
        reader: OCR of an ``(H, W, 3) uint8`` sRGB image → words, boxes in its pixels (e.g. Tesseract, psm 11).
        label: names the reader and its settings (engine, version, languages): part of the cache key.
        cache_dir: a folder of the run (``work/qa-sources``) where readings are kept as JSON across processes,
            so a resumed run reuses them; ``None`` = memory only.

    Returns:
        ``(words, cached)``: boxes in source pixels at the read size (:func:`read_side`); whether the reading was
        reused (memory or disk).

    Raises:
        ImageError: the file cannot be decoded; ValueError: its bytes are no longer ``source.sha256`` (the caller
            then reads the whole creative instead).
    """
    path = Path(source.path)
    with _lock:
        hit = _memory.get((source.sha256, label))
        if hit is not None:
            _memory.move_to_end((source.sha256, label))
    if hit is not None and hit[0] >= min(_min_side(source), hit[1]):  # read at least as large as shown here
        return hit[2], True
    if sha256_file(path) != source.sha256:
        raise ValueError(f"{path}: its bytes changed since it was pasted (sha256 differs from the creative's record)")
    rgba = load_rgba(path, max_side=INPUT_MAX_SIDE)
    native = max(rgba.shape[:2])
    side = read_side(source, native)
    disk = _file(cache_dir, source.sha256, side, label) if cache_dir is not None else None
    words = _load(disk) if disk is not None else None
    cached = words is not None
    if words is None:
        words = []
        k = side / native
        if k < 1:
            rgba = cv2.resize(rgba, (max(1, round(rgba.shape[1] * k)), max(1, round(rgba.shape[0] * k))), interpolation=cv2.INTER_AREA)
        for i, view in enumerate(on_matte(rgba)):
            if i:  # a phrase never spans two views
                words.append(Word("|", 0.0, (0, 0, 0, 0)))
            words += reader(np.ascontiguousarray(view))
        if disk is not None:
            write_atomic(disk, json.dumps({"source": path.name, "side": side, "reader": label,
                                           "words": [[w.text, w.conf, list(w.box)] for w in words]}).encode())
    with _lock:
        _memory[(source.sha256, label)] = (side, native, words)
        while len(_memory) > CACHE_SIZE:
            _memory.popitem(last=False)
    return words, cached


def _min_side(source: PlacedImage) -> int:
    """The smallest read size a cached reading of ``source`` may have: its box's side in this creative (capped
    at :data:`SOURCE_SIDE`, since :func:`read_side` reads every source at least that large or at its own size)."""
    return min(SOURCE_SIDE, max(source.box.x1 - source.box.x0, source.box.y1 - source.box.y0))


def _load(path: Path) -> list[Word] | None:
    """A reading saved by :func:`source_words`, or ``None`` when absent or unreadable (it is then read again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Word(str(t), float(c), tuple(int(v) for v in b)) for t, c, b in data["words"]]  # type: ignore[misc]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_cache() -> None:
    """Forget the in-memory readings (tests; a long-lived worker whose packshots changed keeps working anyway:
    the key is the content's sha256)."""
    with _lock:
        _memory.clear()


__all__ = ["SOURCE_SIDE", "clear_cache", "on_matte", "read_side", "source_words"]
