"""Label-text agreement: does the product in the creative carry the packshot's own lettering?

Two products of one design in the same colours (two flavours of a drink, two volumes of a book) differ in the
words printed on them, which keypoints and colour barely see. This module reads the packshot's lettering once
and looks for it in the product's region of the creative:

1. **The packshot's label** (:func:`packshot_label`, once per distinct packshot: an LRU cache keyed by the
   file's sha256) — RapidOCR (PP-OCR detection + recognition, :mod:`brandflow.qa.scene_text`) on the packshot
   composited on white at :data:`LABEL_SIDE`. Kept: lines with confidence ≥ :data:`MIN_CONF` whose centre is
   on the product (:mod:`brandflow.qa.segment` mask) and that hold a legible token (≥ :data:`MIN_LETTERS`
   letters or digits); at most :data:`MAX_LINES`, the tallest first (the lettering a creative can still show).
   A packshot without such a line has **no legible label**: neutral.
2. **The creative** — where the keypoint match gives the packshot's position (an affine map), each label line
   is cut out of the creative *through that map* and rectified to the packshot's frame; a line whose pixels
   correlate ≥ :data:`SAME_PIXELS` with the packshot's *is* the packshot's line (pasted: no OCR, the cheap common
   case), the others are recognised (no detection) by the same PP-OCR recogniser in one batch
   (:func:`recognise`) — the words at the packshot's label position (:func:`read_mapped`). Lines too small
   there (< :data:`MIN_LINE_PX` px) or under the overlay text (> :data:`OCCLUDED` covered) are not read. Without a geometric match (a re-drawn product), the product region's
   bounding box is read by RapidOCR (detection at :data:`CROP_DET_SIDE`; :func:`read_region`) and the
   packshot's tokens are looked for anywhere in it.
3. **Comparison** (:func:`compare`) — per packshot token (case-folded, NFKC, letters/digits/``%``), the best
   rapidfuzz ``fuzz.ratio`` (0–100, Indel similarity) among the words read: **found** at ≥ :data:`FOUND_RATIO`
   (one wrong letter in five is OCR noise); when mapped, a token not found whose line reads a confident
   (confidence ≥ :data:`READ_CONF`) legible word that matches none of the line's tokens and is less than
   :data:`DIFFERENT_RATIO` similar to it is **different** ("OAT" where the creative says "SOY"); otherwise
   **missing** (nothing legible there, or a garbled reading of it). ``agreement`` = found letters / all letters
   of the packshot's tokens (long words weigh more than "55").

What it vouches for: a creative whose product shows the packshot's words where the packshot has them; a
product of the same design whose printed words differ (the identity check fails it). What it cannot: a label
too small or too stylised for either OCR engine (then missing, not different: weak evidence), lettering the
packshot does not show (the back of a pack), products without lettering (neutral), a long line differing by one
short word (it may still correlate ≥ :data:`SAME_PIXELS` and be taken as the packshot's). Thresholds were set
by hand on the Saleor packshots and the test cartons, and checked on split A (no right product read as other
words; bench/results/identity.md); they were not fitted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rapidfuzz import fuzz

from brandflow.errors import MissingDependencyError
from brandflow.cachedir import kept_or_computed
from brandflow.imageio import flatten_on_white, load_rgba
from brandflow.once import OncePerKey
from brandflow.records import sha256_file

#: Longest side at which a packshot's lettering is read, px: a product shown at 40–70 % of a 1080 px creative
#: is 430–760 px tall, so lettering legible there is legible at this size.
LABEL_SIDE = 768
#: RapidOCR line confidence (0–100) from which a packshot line is kept (on the Saleor packshots garbled small print reads 60–90).
MIN_CONF = 95.0
#: Letters or digits a token needs to count as legible lettering ("55" and stray glyphs do not).
MIN_LETTERS = 3
#: Packshot lines kept, tallest first (bounds the creative-side reading: one recognition batch).
MAX_LINES = 6
#: rapidfuzz ratio (0–100) from which a read word is the packshot's token (one wrong letter in five).
FOUND_RATIO = 80.0
#: Recognition confidence (0–100) from which a word read at a label line's place is trusted as a word.
READ_CONF = 80.0
#: A word read in place of a packshot token is another word only when it is less similar than this (ratio
#: 0–100) to the token; between this and :data:`FOUND_RATIO` it is a garbled reading (missing, not different).
DIFFERENT_RATIO = 50.0
#: Padding around a label line, as a share of its height (glyph edges; the mapped box may be off by a few px).
LINE_PAD = 0.25
#: Normalised cross-correlation from which a rectified line of the creative *is* the packshot's line (pasted or
#: lightly re-encoded: same words, so no OCR is run for it). Other words on the same label band correlate
#: below it (tests/qa/test_identity_label.py; on split A no "differs" pair was lost to it: label rows).
SAME_PIXELS = 0.9
#: A mapped label line covered by more than this share of overlay text boxes is not read (added after the first
#: held-out run, where a calibration creative's "Summer sale" bar over a book's "TRULY" line read as other words).
OCCLUDED = 0.2
#: A label line shorter than this in the creative, px, is too small to read there (left out, not missing).
MIN_LINE_PX = 8
#: Longest side of the creative's product crop for RapidOCR detection when there is no geometric match, px.
CROP_DET_SIDE = 640
#: A rectified label line (with its padding) is scaled to this height, px: PP-OCR's recogniser reads lines at 48 px.
LINE_MIN_PX = 48
#: Packshot labels kept in memory.
CACHE_SIZE = 256

#: A scene-text reading of a packshot: ``(text, conf 0–100, box (x0, y0, x1, y1) in pixels of the packshot on white
#: at LABEL_SIDE)`` per line, every line the engine kept (confidence ≥ scene_text.MIN_LINE_CONF), in reading order.
Reading = tuple[tuple[str, float, tuple[int, int, int, int]], ...]

_TOKEN = re.compile(r"[^\W_]+%?|\d+%", re.UNICODE)


def tokens_of(text: str) -> list[str]:
    """Legible tokens of ``text``: NFKC, case-folded, runs of letters/digits (with a trailing ``%``) of at least
    :data:`MIN_LETTERS` letters or digits. ``"100% Truly-Open"`` → ``["100%", "truly", "open"]``."""
    s = unicodedata.normalize("NFKC", text).casefold()
    return [t for t in _TOKEN.findall(s) if sum(c.isalnum() for c in t) >= MIN_LETTERS]


@dataclass(frozen=True)
class LabelLine:
    """One line of the packshot's lettering: ``text`` as read, RapidOCR ``conf`` (0–100), ``box`` as fractions
    ``(x0, y0, x1, y1)`` of the packshot's width and height (resolution-free), its legible ``tokens``; ``pbox``
    the box padded by :data:`LINE_PAD` of its height (fractions, clipped to the packshot) and ``pixels`` the
    packshot's ``(h, w) uint8`` grey pixels in ``pbox`` (on white), at :data:`LINE_MIN_PX` px tall."""

    text: str
    conf: float
    box: tuple[float, float, float, float]
    tokens: tuple[str, ...]
    pbox: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class PackshotLabel:
    """The packshot's legible lettering (:func:`packshot_label`): ``lines`` (tallest first, at most
    :data:`MAX_LINES`), the ``engine`` that read it, ``seconds`` wall time of the OCR (0 when it was interpreted
    from a reading made before, as :func:`packshot_label` does), ``note`` why nothing was read; ``reading`` the
    :data:`Reading` it was interpreted from (every line, before the confidence and mask filters)."""

    lines: tuple[LabelLine, ...]
    engine: str = ""
    seconds: float = 0.0
    note: str = ""
    reading: Reading = field(default=(), repr=False, compare=False)

    @property
    def legible(self) -> bool:
        """True when the packshot carries at least one legible token."""
        return any(line.tokens for line in self.lines)

    @property
    def tokens(self) -> list[str]:
        """Every legible token, line by line."""
        return [t for line in self.lines for t in line.tokens]


def read_packshot_label(rgba: np.ndarray, mask: np.ndarray | None = None, reading: Reading | None = None) -> PackshotLabel:
    """Read a packshot's lettering (module notes, step 1).

    Args:
        rgba: ``(H, W, 4) uint8`` straight-alpha RGBA or ``(H, W, 3) uint8`` sRGB packshot, any size.
        mask: ``(h, w) uint8`` product mask at any resolution (255 = product); lines whose centre is off it are
            dropped (the scene around a photographed product). ``None``: every line counts.
        reading: the packshot's :func:`packshot_reading`, read before: no OCR is run, the lines are only
            interpreted (``None``: read now).

    Returns:
        :class:`PackshotLabel`; no lines (and a ``note``) when the scene-text engine is not installed or the image
        is too small to hold lettering. Never raises for image content.
    """
    from brandflow.qa import scene_text

    h, w = rgba.shape[:2]
    if min(h, w) < scene_text.MIN_SIDE:
        return PackshotLabel((), note="the packshot is too small to hold legible lettering")
    rgb = _at_label_side(rgba)
    seconds = 0.0
    if reading is None:
        try:
            read = scene_text.read_scene_text(rgb, det_max_side=LABEL_SIDE)
            engine = scene_text.engine_name()
        except MissingDependencyError as e:
            return PackshotLabel((), note=f"label text not read: {e}")
        reading, seconds = tuple((ln.text, float(ln.conf), ln.box) for ln in read.lines), read.seconds
    else:
        engine = scene_text.engine_name()
    sh, sw = rgb.shape[:2]
    kept = []
    for text, conf, (x0, y0, x1, y1) in reading:
        toks = tuple(tokens_of(text))
        if conf < MIN_CONF or not toks:
            continue
        box = (max(0.0, x0 / sw), max(0.0, y0 / sh), min(1.0, x1 / sw), min(1.0, y1 / sh))
        if mask is not None and mask.size:
            mh, mw = mask.shape[:2]
            cy, cx = min(mh - 1, int((box[1] + box[3]) / 2 * mh)), min(mw - 1, int((box[0] + box[2]) / 2 * mw))
            if mask[cy, cx] == 0:
                continue
        pad = LINE_PAD * (y1 - y0)
        px0, py0 = max(0, int(x0 - pad)), max(0, int(y0 - pad))
        px1, py1 = min(sw, int(np.ceil(x1 + pad))), min(sh, int(np.ceil(y1 + pad)))
        crop = cv2.cvtColor(np.ascontiguousarray(rgb[py0:py1, px0:px1]), cv2.COLOR_RGB2GRAY)
        u = LINE_MIN_PX / max(1, py1 - py0)
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * u)), LINE_MIN_PX), interpolation=cv2.INTER_AREA)
        kept.append(LabelLine(text, float(conf), box, toks, (px0 / sw, py0 / sh, px1 / sw, py1 / sh), crop))
    kept.sort(key=lambda ln: -(ln.box[3] - ln.box[1]))
    return PackshotLabel(tuple(kept[:MAX_LINES]), engine, seconds, reading=reading)


def _at_label_side(rgba: np.ndarray) -> np.ndarray:
    """The ``(h, w, 3) uint8`` sRGB packshot on white, scaled down to :data:`LABEL_SIDE` (never up)."""
    h, w = rgba.shape[:2]
    rgb = flatten_on_white(rgba)
    f = min(1.0, LABEL_SIDE / max(h, w))
    if f < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return rgb


def _engine_label() -> str:
    """The scene-text engine and its package version (``"rapidocr/PP-OCRv6 3.10.0"``): part of a kept reading's key,
    so another engine or version reads again."""
    from brandflow.qa import scene_text

    name = scene_text.engine_name()
    try:
        version = importlib.metadata.version(name.split("/")[0])
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - engine from a source tree
        version = "?"
    return f"{name} {version}"


def _kept_file(cache_dir: Path, sha256: str) -> Path:
    tag = hashlib.sha256(f"label|{LABEL_SIDE}|{_engine_label()}".encode()).hexdigest()[:16]
    return cache_dir / f"{sha256}-{tag}.json"


def _load_kept(path: Path) -> Reading | None:
    """A reading kept by :func:`packshot_reading`, or ``None`` when absent or unreadable (then it is read again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return tuple((str(t), float(c), tuple(int(v) for v in b)) for t, c, b in data["lines"])  # type: ignore[misc]
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: sha256 → the packshot's label (its reading interpreted with its mask), made once however many threads ask.
_labels: OncePerKey[PackshotLabel] = OncePerKey(CACHE_SIZE)
#: sha256 → the packshot's reading, read once however many threads ask (:class:`brandflow.once.OncePerKey`).
_readings: OncePerKey[Reading] = OncePerKey(CACHE_SIZE)


def packshot_reading(sha256: str, rgba: np.ndarray | None = None, path: Path | None = None,
                     cache_dir: Path | None = None) -> Reading:
    """The scene-text lines of a packshot (content ``sha256``) on white at :data:`LABEL_SIDE`, read once: a
    process-wide LRU cache keyed by ``sha256`` and — with ``cache_dir`` — kept as JSON in that folder (the user's
    shared cache, else the run's ``work/qa-sources``), so a resumed run, another run folder or another campaign
    over the same catalogue reads no packshot again (~0.5 s CPU each,
    the costliest part of a product's first creative). Threads asking for a packshot being read wait for that
    reading. One reading serves the identity check's label (:func:`packshot_label`) and the text check's forbidden
    words (``brandflow.qa.text``). The pixels come from ``rgba`` or, when ``None``, are loaded from ``path`` (at
    most :data:`LABEL_SIDE` × 2 px on the long side).

    Returns:
        :data:`Reading`; empty for an image too small to hold lettering (< ``scene_text.MIN_SIDE`` px).

    Raises:
        MissingDependencyError: no scene-text engine is installed (the message has the install command).
        ValueError: neither ``rgba`` nor ``path`` given, or the file at ``path`` is no longer ``sha256`` (read from a
            path, a reading not kept before is checked against its key); brandflow.errors.ImageError: ``path``
            cannot be decoded.
    """
    return _readings.get(sha256, lambda: _read_or_reuse(sha256, rgba, path, cache_dir))[0]


def _pixels(rgba: np.ndarray | None, path: Path | None) -> np.ndarray:
    if rgba is not None:
        return rgba
    if path is None:
        raise ValueError("a packshot reading needs the packshot's pixels (rgba) or its path")
    return load_rgba(path, max_side=2 * LABEL_SIDE)


def _read_or_reuse(sha256: str, rgba: np.ndarray | None, path: Path | None, cache_dir: Path | None) -> Reading:
    from brandflow.qa import scene_text

    def read() -> Reading:
        if rgba is None and path is not None and sha256_file(path) != sha256:  # never file a reading under another content
            raise ValueError(f"{path}: its bytes are no longer the packshot's (sha256 differs from the record)")
        pixels = _pixels(rgba, path)
        if min(pixels.shape[:2]) < scene_text.MIN_SIDE:
            return ()
        found = scene_text.read_scene_text(_at_label_side(pixels), det_max_side=LABEL_SIDE)
        return tuple((ln.text, float(ln.conf), ln.box) for ln in found.lines)

    def dump(reading: Reading) -> bytes:
        return json.dumps({"sha256": sha256, "engine": _engine_label(), "label_side": LABEL_SIDE,
                           "lines": [[t, c, list(b)] for t, c, b in reading]}).encode()

    disk = _kept_file(cache_dir, sha256) if cache_dir is not None else None  # MissingDependencyError: no engine
    return kept_or_computed(disk, _load_kept, read, dump)[0]


def clear_cache() -> None:
    """Forget the packshot readings and labels held in memory (tests; a new process starts with none). Readings kept in
    a run folder stay."""
    _labels.clear()
    _readings.clear()


def packshot_label(sha256: str, rgba: np.ndarray | None = None, path: Path | None = None,
                   mask: np.ndarray | None = None, cache_dir: Path | None = None) -> PackshotLabel:
    """:func:`read_packshot_label` of the packshot's :func:`packshot_reading` (read once; kept in ``cache_dir``),
    interpreted with ``mask``, in a process-wide LRU cache keyed by ``sha256`` (the file's content hash; a packshot's
    mask is computed from the same bytes, so one label per content).

    Raises:
        ValueError: neither ``rgba`` nor ``path`` given; brandflow.errors.ImageError: ``path`` cannot be decoded.
    """
    def make() -> PackshotLabel:
        pixels = _pixels(rgba, path)
        try:
            reading = packshot_reading(sha256, pixels, path, cache_dir)
        except MissingDependencyError as e:
            return PackshotLabel((), note=f"label text not read: {e}")
        return read_packshot_label(pixels, mask, reading=reading)

    return _labels.get(sha256, make)[0]


@dataclass(frozen=True)
class ReadWord:
    """A word read in the creative: ``text`` as read, ``conf`` 0–100, ``line``: index of the packshot label
    line at whose mapped place it was read (``-1``: read anywhere in the product region); ``legible`` False marks
    a label line too small in the creative to be read (its tokens are left out of the comparison); ``by_pixels``
    True: not read but the packshot's own token, the line's pixels matching the packshot's (:data:`SAME_PIXELS`)."""

    text: str
    conf: float
    line: int = -1
    legible: bool = True
    by_pixels: bool = False


def read_mapped(image: np.ndarray, A: np.ndarray, ref_size: tuple[int, int], label: PackshotLabel,
                occluders: tuple[tuple[int, int, int, int], ...] = ()) -> list[ReadWord]:
    """Words at each label line's place in the creative (module notes, step 2, geometric match).

    Args:
        image: ``(H, W, 3) uint8`` sRGB creative, full resolution.
        A: ``(2, 3) float`` affine map from reference pixels to ``image`` pixels.
        ref_size: ``(width, height)`` of the reference in the pixels ``A`` maps from.
        label: the packshot's label (its line boxes are fractions of the packshot).
        occluders: creative pixel boxes ``(x0, y0, x1, y1)`` drawn over the product (the overlay text compose
            recorded); a label line whose mapped box is more than :data:`OCCLUDED` covered by them is not read
            (no evidence: the words there are the overlay's, not the product's).

    Returns:
        The recognised words of each line cut out through ``A`` and rectified to the packshot's frame (padding
        25 % of the line height; scaled to :data:`LINE_MIN_PX` px tall), each with its line's
        confidence (:func:`recognise`).

    Raises:
        MissingDependencyError: the scene-text engine is not installed.
    """
    rw, rh = ref_size
    k = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))  # creative px per reference px
    crops: list[np.ndarray | None] = []
    same: dict[int, float] = {}
    for i, line in enumerate(label.lines):
        if (line.box[3] - line.box[1]) * rh * k < MIN_LINE_PX:  # too small in this creative to be legible: no evidence
            crops.append(None)
            continue
        x0, y0, x1, y1 = line.pbox[0] * rw, line.pbox[1] * rh, line.pbox[2] * rw, line.pbox[3] * rh
        if occluders and _covered(A, (x0, y0, x1, y1), occluders) > OCCLUDED:
            crops.append(None)
            continue
        u = LINE_MIN_PX / max(1e-3, y1 - y0)  # output px per reference px: the padded line LINE_MIN_PX tall
        ow, oh = min(4000, max(1, round((x1 - x0) * u))), LINE_MIN_PX
        M = np.hstack([A[:, :2] / u, (A[:, :2] @ np.array([x0, y0]) + A[:, 2])[:, None]])  # output px → creative px
        crop = cv2.warpAffine(image, M, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        if line.pixels is not None and line.pixels.size and ow >= 2:
            ncc = pixel_match(line.pixels, crop)
            if ncc >= SAME_PIXELS:  # the packshot's own pixels: its words, no reading needed
                same[i] = ncc
                crops.append(None)
                continue
        crops.append(crop)
    texts = iter(recognise([c for c in crops if c is not None]))
    out = []
    for i, c in enumerate(crops):
        if i in same:
            out += [ReadWord(t, 100.0, i, by_pixels=True) for t in label.lines[i].tokens]
        elif c is None:
            out.append(ReadWord("", 0.0, i, legible=False))
        else:
            text, conf = next(texts)
            out += [ReadWord(w, conf, i) for w in text.split()]
    return out


def _covered(A: np.ndarray, box: tuple[float, float, float, float], occluders: tuple[tuple[int, int, int, int], ...]) -> float:
    """Share of the axis-aligned box around ``box`` (reference px) mapped by ``A`` that ``occluders`` (creative px)
    cover (boxes summed, so overlapping occluders can count twice; capped at 1)."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) @ A[:, :2].T + A[:, 2]
    bx0, by0, bx1, by1 = pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()
    area = max(1e-6, (bx1 - bx0) * (by1 - by0))
    cover = sum(max(0.0, min(bx1, ox1) - max(bx0, ox0)) * max(0.0, min(by1, oy1) - max(by0, oy0))
                for ox0, oy0, ox1, oy1 in occluders)
    return min(1.0, cover / area)


def pixel_match(line_pixels: np.ndarray, crop: np.ndarray) -> float:
    """Normalised cross-correlation (``cv2.matchTemplate``, ``TM_CCOEFF_NORMED``, −1 … 1) of a packshot label line's
    ``(h, w) uint8`` grey pixels with the creative's rectified ``(h, w', 3) uint8`` sRGB crop of it (resized to
    the line's size); −1 when either is flat."""
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    if grey.shape != line_pixels.shape:
        grey = cv2.resize(grey, (line_pixels.shape[1], line_pixels.shape[0]), interpolation=cv2.INTER_AREA)
    if float(grey.std()) < 1.0 or float(line_pixels.std()) < 1.0:
        return -1.0
    return float(cv2.matchTemplate(grey, line_pixels, cv2.TM_CCOEFF_NORMED)[0, 0])


def recognise(crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """RapidOCR recognition only (no detection) of ``(h, w, 3) uint8`` sRGB line crops, one batch: ``(text,
    confidence 0–100)`` per crop, ``("", 0.0)`` where nothing was recognised.

    Raises:
        MissingDependencyError: the scene-text engine is not installed.
    """
    from brandflow.qa import scene_text

    if not crops:
        return []
    engine = scene_text.get_engine()
    bgr = [np.ascontiguousarray(c[..., ::-1]) for c in crops]
    if hasattr(engine, "recognize_txt"):  # rapidocr 3.x: one batched call
        try:
            res = engine.recognize_txt(bgr)
        except Exception:  # noqa: BLE001 — rapidocr raises its own error for "nothing recognised"
            return [("", 0.0)] * len(crops)
        return [(str(t), 100.0 * float(c)) for t, c in zip(res.txts or (), res.scores or ())] + \
            [("", 0.0)] * max(0, len(crops) - len(res.txts or ()))
    out = []
    for img in bgr:  # rapidocr-onnxruntime 1.x
        result, _ = engine(img, use_det=False, use_cls=False, use_rec=True)
        out.append((str(result[0][0]), 100.0 * float(result[0][1])) if result else ("", 0.0))
    return out


def read_region(image: np.ndarray, box: tuple[int, int, int, int]) -> list[ReadWord]:
    """RapidOCR words inside ``box`` ``(x0, y0, x1, y1)`` (creative pixels, clipped) of an ``(H, W, 3) uint8``
    sRGB creative, detection at ≤ :data:`CROP_DET_SIDE` px (module notes, step 2, no geometric match).

    Raises:
        MissingDependencyError: the scene-text engine is not installed.
    """
    from brandflow.qa import scene_text

    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, int(box[0])), max(0, int(box[1])), min(w, int(box[2])), min(h, int(box[3]))
    if x1 - x0 < scene_text.MIN_SIDE or y1 - y0 < scene_text.MIN_SIDE:
        return []
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    return [ReadWord(wd.text, float(wd.conf)) for wd in scene_text.read_scene_text(crop, det_max_side=CROP_DET_SIDE).words]


@dataclass
class LabelAgreement:
    """The packshot's lettering looked for in the creative (:func:`compare`).

    Attributes:
        status: ``"agrees"`` (every token found), ``"differs"`` (a token read as another word at its place),
            ``"partial"`` (some found, none contradicted), ``"not legible"`` (read at the label's mapped place,
            nothing recognisable there: too small or blurred — no evidence), ``"not found"`` (none of it anywhere
            in the product region), ``"no label"`` (the packshot has no legible lettering: neutral), ``"not
            read"`` (an OCR engine is missing: neutral).
        where: ``"at the packshot's label lines"`` (through the geometric match) or ``"in the product region"``.
        expected / found / missing: packshot tokens; ``different``: ``[packshot token, word read there]`` pairs;
        other_words: confident creative words that are none of the packshot's tokens.
        agreement: found letters / letters of all packshot tokens, [0, 1] (``None`` when neutral).
        seconds: wall time of the creative-side reading; lines_by_pixels: label lines whose pixels matched the
            packshot's (:data:`SAME_PIXELS`), so not read by OCR.
    """

    status: str
    where: str = ""
    expected: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    different: list[list[str]] = field(default_factory=list)
    other_words: list[str] = field(default_factory=list)
    agreement: float | None = None
    seconds: float = 0.0
    note: str = ""
    lines_by_pixels: int = 0

    @property
    def neutral(self) -> bool:
        """No evidence either way (no legible packshot lettering, or no engine to read it)."""
        return self.agreement is None

    def as_metrics(self) -> dict:
        """JSON-ready dict for the check's metrics (without ``seconds``: a check's metrics are the same for the
        same pixels, timings live in the run's records)."""
        return {"status": self.status, "where": self.where, "expected": self.expected, "found": self.found,
                "missing": self.missing, "different": self.different, "other_words": self.other_words[:8],
                "agreement": None if self.agreement is None else round(self.agreement, 4),
                "lines_by_pixels": self.lines_by_pixels,
                **({"note": self.note} if self.note else {})}


#: OCR look-alike digits inside a word with letters ("0AT" is "oat"), as tokens.py treats them for the text check.
_LOOKALIKE = str.maketrans("015", "ols")


def _fold(token: str) -> str:
    return token.translate(_LOOKALIKE) if any(c.isalpha() for c in token) else token


def _best(token: str, words: list[str]) -> tuple[float, str]:
    best, which = 0.0, ""
    for w in words:
        r = fuzz.ratio(_fold(token), _fold(w))
        if r > best:
            best, which = r, w
    return best, which


def compare(label: PackshotLabel, read: list[ReadWord], mapped: bool, seconds: float = 0.0) -> LabelAgreement:
    """Compare the packshot's tokens with the words read in the creative (module notes, step 3).

    ``mapped``: the words were read at each label line's place (:func:`read_mapped`), so a confident word that
    is none of the line's tokens stands *in place of* a missing token ("different"); else they were read
    anywhere in the product region and a token not found is only missing.
    """
    where = "at the packshot's label lines" if mapped else "in the product region"
    if not label.legible:
        return LabelAgreement("no label", where, note=label.note)
    skipped = {w.line for w in read if not w.legible}
    lines = [(i, ln) for i, ln in enumerate(label.lines) if i not in skipped]
    expected = [t for _, ln in lines for t in ln.tokens]
    if not expected:
        return LabelAgreement("no label", where, note="the packshot's lettering is too small in the creative to read")
    read_tokens = [(t, w.conf, w.line) for w in read for t in tokens_of(w.text)]
    words = [t for t, _, _ in read_tokens]
    found, missing, different = [], [], []
    for i, line in lines:
        pool = [t for t, _, ln in read_tokens if ln == i] if mapped else words
        strangers = [t for t, c, ln in read_tokens if ln == i and c >= READ_CONF
                     and _best(t, list(line.tokens))[0] < FOUND_RATIO] if mapped else []
        for tok in line.tokens:
            if _best(tok, pool)[0] >= FOUND_RATIO:
                found.append(tok)
            elif strangers and _best(tok, strangers)[0] < DIFFERENT_RATIO:
                different.append([tok, strangers[0]])
            else:
                missing.append(tok)
    letters = sum(len(t) for t in expected)
    agreement = sum(len(t) for t in found) / letters if letters else None
    others = [t for t, c, _ in read_tokens if c >= READ_CONF and _best(t, expected)[0] < FOUND_RATIO]
    status = ("differs" if different else "agrees" if not missing else "partial" if found
              else "not legible" if mapped else "not found")
    return LabelAgreement(status, where, expected, found, missing, different, list(dict.fromkeys(others)),
                          agreement, seconds, lines_by_pixels=len({w.line for w in read if w.by_pixels}))


def agreement_of(label: PackshotLabel, image: np.ndarray | None, A: np.ndarray | None, ref_size: tuple[int, int],
                 region_box: tuple[int, int, int, int] | None,
                 occluders: tuple[tuple[int, int, int, int], ...] = ()) -> LabelAgreement:
    """Read the creative where the product is and compare (module notes): through ``A`` when given (reference
    px → creative px, ``ref_size`` the reference's ``(width, height)``), else inside ``region_box`` (creative
    pixels; ``occluders``: overlay text boxes, see :func:`read_mapped`). Neutral (``"no label"`` / ``"not read"``) when the packshot has no legible lettering, there is no
    creative image or no region, or an OCR engine is missing. Never raises for image content."""
    if not label.legible:
        return LabelAgreement("no label", note=label.note)
    if image is None or (A is None and region_box is None):
        return LabelAgreement("not read", note="no creative pixels or product region to read")
    t0 = time.perf_counter()
    try:
        read = read_mapped(image, A, ref_size, label, occluders) if A is not None else read_region(image, region_box)
    except MissingDependencyError as e:
        return LabelAgreement("not read", note=f"label text not read: {e}")
    return compare(label, read, A is not None, time.perf_counter() - t0)


__all__ = ["CROP_DET_SIDE", "FOUND_RATIO", "LABEL_SIDE", "LabelAgreement", "LabelLine", "MAX_LINES", "MIN_CONF",
           "PackshotLabel", "ReadWord", "Reading", "agreement_of", "clear_cache", "compare", "packshot_label", "packshot_reading", "read_mapped",
           "read_packshot_label", "read_region", "tokens_of"]
