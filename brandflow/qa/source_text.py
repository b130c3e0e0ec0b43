"""The letters of the images pasted into a creative, read once per run and reused.

A creative whose generator records what it pasted (:attr:`brandflow.records.Creative.placed`: the compositor's
packshots, compose's logo) has exactly two sources of letters: the texts compose drew (its ``regions``, which
text QA reads anyway) and those pasted images. Searching the brand's forbidden words then needs no OCR pass
over the whole creative (~0.1 s per 1080² image, ~0.2 s per story): each distinct source is read once — in
memory for the process, and in the run's work folder so that a resumed run reuses it — and its words count
for every creative it was pasted into. A creative without such a record (FLUX.2, Black Forest Labs, an agency
file) is read whole, as before.

Detection power: a source is read at about the size a creative shows it (:data:`READ_SIDE`; larger when a creative
shows it larger), on a plain matte in place of its transparent pixels (white, and inverted on black: :func:`on_matte`),
without the creative's backdrop behind its words. Neither reading dominates the other word by
word (Tesseract's sparse-text segmentation varies with scale and surroundings); bench/qa.py part (d) counts both on
forbidden words printed on the example's packshots and on 15 held-out product views. The text check adds to these
readings the primary packshot's scene-text reading, which the identity check makes anyway
(:func:`brandflow.qa.label_text.packshot_reading`; ``brandflow.qa.text._source_texts``). Words of a source hidden in a creative (under an overlay plate, past the frame) still
count: a false alarm costs a look, a missed word a wrong publish. Tests: ``tests/qa/test_source_text.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from brandflow.cachedir import kept_or_computed
from brandflow.imageio import INPUT_MAX_SIDE, flatten_on_white, load_rgba
from brandflow.once import OncePerKey
from brandflow.qa.words import Word
from brandflow.records import PlacedImage, sha256_file

#: Longest side a source is read at, px (never upscaled past its own pixels): about the size a 1080-px format shows a
#: packshot at (square ~620 px, story ~820 px), so one reading serves every format and variant of a product. Chosen
#: on bench/qa.py part (d): at 768 px the per-source reading caught 22 of 32 printed forbidden words (the whole-image
#: reading 19); at 1024 px only 18 — Tesseract splits large sparse words ("guaran teed", "MI RACLE").
READ_SIDE = 768
#: A creative showing a source larger than this, px, gets its own reading at that size (rounded up to
#: :data:`READ_STEP`), so no glyph is read at less than 80 % of the size a creative shows it.
MAX_SHOWN = 960
READ_STEP = 64
#: Readings kept in memory (a campaign's distinct packshots and its logo).
CACHE_SIZE = 256
#: Opaque pixels are those with alpha at least this (0–255); the rest shows the matte.
OPAQUE = 128
#: A source with transparency is also read inverted on black when this share of its opaque pixels is light
#: (luma ≥ :data:`LIGHT_LUMA`, 0–255): letters lighter than anything around them would vanish on white.
LIGHT_LUMA, LIGHT_SHARE = 160, 0.02
_log = logging.getLogger(__name__)

#: ``(sha256, reader label, read side)`` → (words, boxes in source pixels at the read size; read from the run folder),
#: each read once however many threads ask (:class:`brandflow.once.OncePerKey`).
_memory: OncePerKey[tuple[list[Word], bool]] = OncePerKey(CACHE_SIZE)


def read_side(source: PlacedImage) -> int:
    """The longest side, px, ``source`` is read at: :data:`READ_SIDE`, or — when a creative shows it larger than
    :data:`MAX_SHOWN` — its box's longest side rounded up to :data:`READ_STEP` (:func:`source_words` never
    upscales past the source's own pixels)."""
    shown = max(1, source.box.x1 - source.box.x0, source.box.y1 - source.box.y0)
    return READ_SIDE if shown <= MAX_SHOWN else -(-shown // READ_STEP) * READ_STEP


def on_matte(rgba: np.ndarray) -> list[np.ndarray]:
    """The ``(H, W, 3) uint8`` sRGB views of an ``(H, W, 4) uint8`` sRGB + alpha source that OCR reads: flattened
    onto white (dark letters on a transparent ground or on the product stay dark on light); and, when the source has
    transparent pixels (alpha < :data:`OPAQUE`) and light ones (≥ :data:`LIGHT_SHARE` of its opaque pixels with Rec.
    601 luma ≥ :data:`LIGHT_LUMA`), also flattened onto black and inverted, so light letters on a transparent ground
    (a white wordmark) and on dark parts of the product (white print on a blue cover) become dark on light too —
    Tesseract with Sauvola binarisation in sparse mode does not read light-on-dark text (measured: a white 64 px word
    on black read as nothing, inverted read exactly)."""
    views = [flatten_on_white(rgba)]
    opaque = rgba[..., 3] >= OPAQUE
    if opaque.any() and not opaque.all():
        luma = rgba[..., :3][opaque].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
        if float(np.mean(luma >= LIGHT_LUMA)) >= LIGHT_SHARE:
            alpha = rgba[..., 3:4].astype(np.float32) / 255.0
            views.append(255 - np.clip(rgba[..., :3].astype(np.float32) * alpha + 0.5, 0, 255).astype(np.uint8))
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
        cache_dir: a folder (the user's shared cache or the run's ``work/qa-sources``) where readings are kept as
            JSON across processes, so a resumed run or another campaign reuses them; ``None`` = memory only.

    Returns:
        ``(words, cached)``: boxes in source pixels at the read size (:func:`read_side`); whether the reading was
        reused (memory or disk).

    Raises:
        ImageError: the file cannot be decoded; ValueError: its bytes are no longer ``source.sha256`` (the caller
            then reads the whole creative instead).
    """
    side = read_side(source)
    (words, from_disk), kept = _memory.get((source.sha256, label, side),
                                           lambda: _read_or_reuse(source, reader, label, side, cache_dir))
    return words, kept or from_disk


def _read_or_reuse(source: PlacedImage, reader: Callable[[np.ndarray], list[Word]], label: str, side: int,
                   cache_dir: Path | None) -> tuple[list[Word], bool]:
    path = Path(source.path)

    def read() -> list[Word]:
        if sha256_file(path) != source.sha256:
            raise ValueError(f"{path}: its bytes changed since it was pasted (sha256 differs from the creative's record)")
        rgba = load_rgba(path, max_side=INPUT_MAX_SIDE)
        k = side / max(rgba.shape[:2])
        if k < 1:
            rgba = cv2.resize(rgba, (max(1, round(rgba.shape[1] * k)), max(1, round(rgba.shape[0] * k))), interpolation=cv2.INTER_AREA)
        words = []
        for i, view in enumerate(on_matte(rgba)):
            if i:  # a phrase never spans two views
                words.append(Word("|", 0.0, (0, 0, 0, 0)))
            words += reader(np.ascontiguousarray(view))
        return words

    def dump(words: list[Word]) -> bytes:
        return json.dumps({"sha256": source.sha256, "side": side, "reader": label,
                           "words": [[w.text, w.conf, list(w.box)] for w in words]}).encode()

    disk = _file(cache_dir, source.sha256, side, label) if cache_dir is not None else None
    return kept_or_computed(disk, _load, read, dump)


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
    _memory.clear()


__all__ = ["READ_SIDE", "clear_cache", "on_matte", "read_side", "source_words"]
