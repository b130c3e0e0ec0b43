"""Text QA: the exact overlay text is legible (OCR), expected strings are found, forbidden words are absent.

OCR is Tesseract 5 (LSTM, English) through pytesseract, always with Sauvola binarisation
(``-c thresholding_method=2``; the default global Otsu drops whole lines on gradients and coloured panels).
Tesseract costs ~0.13 s per process start (it loads its model on each call), so the regions are read in **one**
call per image:

* every region of ``ctx.regions`` (where compose drew text) is cropped, turned into dark text on white by
  its distance to the known text colour (see :func:`_normalise`), scaled to a common cap height
  (:data:`TARGET_CAP_PX`) and stacked on a white strip, read as one block (``--psm 6``, measured slightly more
  accurate on strips); words are mapped back to their region by position;
* when ``ctx.expected_text`` or ``brand.forbidden_words`` need a full-image reading (forbidden words do not when
  the creative records its pasted sources: they are read once per run instead, :mod:`brandflow.qa.source_text`),
  the whole image is appended below the strip and that canvas is read in a second call as sparse text
  (``--psm 11``), its region boxes blanked (filled with their median colour): they were read in the strip, and the
  full-image results (expected strings, forbidden words) are searched in the region readings as well. Only the
  whole image's words are taken from that call. The regions used to be taken from it too, read as sparse text: a
  region then read differently depending on whether forbidden words needed the whole image (``brandflow qa``
  without the run's record of pasted sources read a headline's "01" as "O01" where the run, reading the strip
  alone, read "01"). The canvas stays as it was because the whole image's detection power was measured on it: read
  alone, it caught fewer forbidden words (bench/qa.py part (d): 65 of 128 against 74).

In-process Tesseract: when tesserocr is installed **and** links the same Tesseract major.minor.patch as the
``tesseract`` CLI, the same call runs in-process (one ``PyTessBaseAPI`` per thread, the CLI's tessdata, the same
page segmentation mode and ``-c`` variables, TSV parsed as pytesseract does): identical words, boxes and
confidences without the process start and model load (~3× less OCR time). A tesserocr wheel bundling another
Tesseract (the PyPI wheels do) reads differently, so it is not used (logged once); build tesserocr against the
system library: ``pip install --no-binary tesserocr tesserocr``. ``BRANDFLOW_OCR=cli`` forces the CLI. The
check's metric ``ocr_engine`` names the engine that read (``"tesserocr/tesseract 5.3.0"``, ``"tesseract-cli 5.3.0"``).

Scene-text engine (``qa.text.engine``, default ``"auto"``): RapidOCR (PP-OCRv6 detection + recognition,
:mod:`brandflow.qa.scene_text`) reads the **whole image** for text at unknown positions (expected strings no
region holds, an image without recorded regions); Tesseract's whole-image reading is its second opinion when the
decision is not a pass. A region Tesseract did not read exactly is read again by RapidOCR on its crop. ``"tesseract"``
/ ``"rapidocr"`` pick one engine for unknown positions, ``"both"`` always combines both (see :class:`TextCheck`).

Decision: per token (:mod:`brandflow.qa.tokens`): numbers, prices, percentages and currency exactly; another real
word fails; OCR look-alikes warn; tofu fails; unreadable scripts warn and say so. NED (AnyText: Tuo et al., 2023,
"AnyText: Multilingual Visual Text Generation and Editing") and word precision/recall are reported as metrics;
``qa.text.min_ned`` no longer decides.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from brandflow.colour import hex_to_rgb, wcag_luminance
from brandflow.errors import ImageError, MissingDependencyError
from brandflow.qa.base import CheckContext
from brandflow.qa.tokens import (TextDecision, TokenReading, combine, compare_reading, describe_chars,
                                   ned, normalise_text, word_precision_recall)
from brandflow.qa.words import Word
from brandflow.records import CheckResult, TextRegion
from brandflow.registry import PluginOptions

#: Cap height every region is scaled to before OCR, px. Tesseract's LSTM reads best at x-heights of about
#: 20–30 px (tessdoc "Improving the quality of the output"); 40 px caps ≈ 30 px x-height.
TARGET_CAP_PX = 40
#: Cap height / font size (em) of DejaVu Sans Bold, the bundled overlay font (0.729 em); close enough for
#: any sans serif to choose a scale.
CAP_RATIO = 0.73
#: Scale factors are clipped to this range (upscaling beyond 4× only invents blur).
SCALE_RANGE = (0.25, 4.0)
#: Tesseract options for every call: Sauvola local binarisation (Tesseract ≥ 5.0).
TESSERACT_CONFIG = "-c thresholding_method=2"
#: Images (or canvases) with a side shorter than this, px, hold no readable text: OCR is not called on them.
MIN_OCR_SIDE = 8
#: Full-image OCR engines ``qa.text.engine`` may name.
ENGINES = ("auto", "tesseract", "rapidocr", "both")
#: Operator switch: ``BRANDFLOW_OCR=cli`` forces the ``tesseract`` binary even when tesserocr is usable.
OCR_ENV = "BRANDFLOW_OCR"
_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- text scores
def best_window(words: list[str], expected: str) -> tuple[str, float]:
    """The run of consecutive OCR ``words`` that best matches ``expected`` (highest NED).

    Windows of n−2 … n+2 words are tried, n = the expected word count. Returns ``(text, ned)``;
    ``("", 0.0)`` when there are no words.
    """
    n = len(normalise_text(expected).split())
    best = ("", 0.0)
    for size in range(max(1, n - 2), n + 3):
        for i in range(0, max(0, len(words) - size) + 1):
            cand = " ".join(words[i : i + size])
            score = ned(cand, expected) if cand else 0.0
            if score > best[1]:
                best = (cand, score)
    return best


def find_forbidden(text: str, forbidden: list[str]) -> list[str]:
    """The ``forbidden`` words/phrases present in ``text`` (case-insensitive, whole words, any spacing)."""
    norm = normalise_text(text)
    found = []
    for word in forbidden:
        tokens = normalise_text(word).split()
        if tokens and re.search(r"(?<!\w)" + r"\s+".join(map(re.escape, tokens)) + r"(?!\w)", norm):
            found.append(word)
    return found


# --------------------------------------------------------------------------- OCR
def _tesseract() -> Any:
    """Import pytesseract and find the binary; sets ``OMP_THREAD_LIMIT=1`` unless already set (halves OCR
    time on 2 cores, DESIGN.md)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        import pytesseract
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("pytesseract is not installed: pip install pytesseract") from e
    cmd = pytesseract.pytesseract.tesseract_cmd
    if shutil.which(cmd) is None:
        raise MissingDependencyError(
            f"the Tesseract OCR binary ({cmd!r}) is not on PATH; install it: apt-get install -y tesseract-ocr"
        )
    return pytesseract


def _version(v: Any) -> str | None:
    """``major.minor.patch`` found in a Tesseract version string or object (``'tesseract 5.3.0 …'``)."""
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", str(v))
    return ".".join(m.groups()) if m else None


def _tessdata_dir(cmd: str) -> str | None:
    """The CLI's tessdata folder: ``$TESSDATA_PREFIX``, else the first line of ``tesseract --list-langs``."""
    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    try:
        out = subprocess.run([cmd, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'List of available languages in "([^"]+)"', out.stdout + out.stderr)
    return m.group(1) if m else None


#: ``tesseract_cmd`` → ``(tessdata dir, engine label)`` when tesserocr is used, else ``(None, engine label)``.
_ENGINE: dict[str, tuple[str | None, str]] = {}
_ENGINE_LOCK = threading.Lock()
_LOCAL = threading.local()


def _select_engine(pytesseract: Any) -> tuple[str | None, str]:
    """Choose the OCR engine once per ``tesseract_cmd``: tesserocr (libtesseract in-process, no process start)
    when importable and linked against the same Tesseract major.minor.patch as the CLI, else the CLI (logged
    once, with the reason). ``BRANDFLOW_OCR=cli`` forces the CLI. Returns ``(tessdata dir or None, label)``."""
    cmd = pytesseract.pytesseract.tesseract_cmd
    force_cli = os.environ.get(OCR_ENV, "").strip().lower() == "cli"
    key = f"{cmd}|{force_cli}"
    with _ENGINE_LOCK:
        if key in _ENGINE:
            return _ENGINE[key]
        try:
            cli = _version(pytesseract.get_tesseract_version())
        except pytesseract.TesseractNotFoundError as e:
            raise MissingDependencyError(
                "Tesseract OCR binary not found; install it: apt-get install -y tesseract-ocr") from e
        chosen: tuple[str | None, str] = (None, f"tesseract-cli {cli}")
        why = None
        if force_cli:
            why = f"{OCR_ENV}=cli"
        else:
            try:
                import tesserocr
            except ImportError:
                tesserocr = None
                why = ("tesserocr is not installed (optional, faster: apt-get install -y libtesseract-dev "
                       "libleptonica-dev; pip install --no-binary tesserocr tesserocr)")
            if tesserocr is not None:
                lib = _version(tesserocr.tesseract_version())
                tessdata = _tessdata_dir(cmd)
                if lib != cli:
                    why = (f"tesserocr links tesseract {lib} but the CLI is {cli}: using the CLI, whose output the "
                           f"thresholds were calibrated on; build tesserocr against the system library with "
                           f"`pip install --no-binary tesserocr tesserocr`")
                elif tessdata is None:
                    why = f"could not find the tessdata folder of {cmd!r} (set TESSDATA_PREFIX)"
                else:
                    chosen = (tessdata, f"tesserocr/tesseract {lib}")
        if why:
            _log.info("text QA OCR: using the tesseract CLI (%s)", why)
        _ENGINE[key] = chosen
        return chosen


def _config_variables(config: str) -> dict[str, str] | None:
    """``-c name=value`` pairs of a Tesseract CLI config string; ``None`` if it holds anything else."""
    tokens, out = shlex.split(config), {}
    while tokens:
        flag = tokens.pop(0)
        if flag != "-c" or not tokens or "=" not in tokens[0]:
            return None
        name, value = tokens.pop(0).split("=", 1)
        out[name] = value
    return out


def _tesserocr_api(tessdata: str, lang: str = "eng") -> Any:
    """This thread's ``PyTessBaseAPI`` for ``lang`` (default OEM, like the CLI), created on first use."""
    api = getattr(_LOCAL, "api", None)
    if api is None or getattr(_LOCAL, "tessdata", None) != (tessdata, lang):
        import tesserocr

        api = tesserocr.PyTessBaseAPI(path=tessdata.rstrip("/") + "/", lang=lang)
        _LOCAL.api, _LOCAL.tessdata = api, (tessdata, lang)
    return api


def _parse_tsv(tsv: str) -> dict[str, list[Any]]:
    """Tesseract TSV rows (as pytesseract's ``image_to_data`` dict: word rows and the rest)."""
    data: dict[str, list[Any]] = {k: [] for k in ("text", "conf", "left", "top", "width", "height")}
    for line in tsv.splitlines():
        cols = line.split("\t")
        if len(cols) < 12 or not cols[0].isdigit():
            continue
        data["left"].append(int(cols[6]))
        data["top"].append(int(cols[7]))
        data["width"].append(int(cols[8]))
        data["height"].append(int(cols[9]))
        data["conf"].append(int(float(cols[10])))  # as pytesseract: whole numbers
        data["text"].append(cols[11])
    return data


def ocr_engine() -> str:
    """Which engine :func:`ocr_words` uses: ``'tesserocr/tesseract X.Y.Z'`` or ``'tesseract-cli X.Y.Z'``.

    Raises:
        MissingDependencyError: pytesseract or the ``tesseract`` binary is missing.
    """
    return _select_engine(_tesseract())[1]


def ocr_words(image: np.ndarray, psm: int, config: str = TESSERACT_CONFIG, lang: str = "eng") -> list[Word]:
    """Run Tesseract (``lang``: traineddata names joined by ``+``, default English) on an ``(H, W, 3) uint8`` RGB array; its non-empty words in Tesseract's order.

    In-process through tesserocr when it links the same Tesseract version as the ``tesseract`` CLI (same
    tessdata, page segmentation mode and ``-c`` variables; its TSV output parsed like pytesseract's), else
    the CLI through pytesseract, given an uncompressed BMP (PNG encoding would add ~40 ms per megapixel).
    See :func:`_select_engine`.

    Raises:
        MissingDependencyError: pytesseract or the ``tesseract`` binary is missing.
        pytesseract.TesseractError: Tesseract failed on the input.
    """
    pytesseract = _tesseract()
    tessdata, _label = _select_engine(pytesseract)
    if min(image.shape[:2]) < MIN_OCR_SIDE:  # Tesseract refuses such images ("No image set?"); they hold no text
        return []
    variables = _config_variables(config) if tessdata else None
    if tessdata and variables is not None:
        api = _tesserocr_api(tessdata, lang)
        defaults = {name: api.GetVariableAsString(name) for name in variables}
        for name, value in variables.items():
            if not api.SetVariable(name, value):
                raise ValueError(f"Tesseract has no variable {name!r}")
        api.SetPageSegMode(psm)
        rgb = np.ascontiguousarray(image)
        api.SetImageBytes(rgb.tobytes(), rgb.shape[1], rgb.shape[0], 3, rgb.shape[1] * 3)
        try:
            data = _parse_tsv(api.GetTSVText(0))
        finally:  # -c variables apply to one call on the CLI: restore the previous values
            api.Clear()
            for name, value in defaults.items():
                if value is not None:
                    api.SetVariable(name, value)
    else:
        with tempfile.TemporaryDirectory(prefix="brandflow-ocr-") as tmp:
            path = Path(tmp) / "in.bmp"
            cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            try:
                data = pytesseract.image_to_data(
                    str(path), lang=lang, config=f"--psm {psm} {config}".strip(), output_type=pytesseract.Output.DICT
                )
            except pytesseract.TesseractNotFoundError as e:
                raise MissingDependencyError("Tesseract OCR binary not found; install it: apt-get install -y tesseract-ocr") from e
    words = []
    for text, conf, x, y, w, h in zip(data["text"], data["conf"], data["left"], data["top"], data["width"], data["height"]):
        if text and text.strip():
            words.append(Word(text.strip(), round(float(conf), 1), (int(x), int(y), int(x + w), int(y + h))))
    return words


def reading_order(words: list[Word]) -> list[Word]:
    """Sort words into lines (vertical centres within half a median word height) top to bottom, then left to right."""
    if not words:
        return []
    tol = 0.5 * float(np.median([w.box[3] - w.box[1] for w in words]))
    lines: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.box[1] + w.box[3]) / 2):
        cy = (w.box[1] + w.box[3]) / 2
        if lines and abs(cy - np.mean([(v.box[1] + v.box[3]) / 2 for v in lines[-1]])) <= tol:
            lines[-1].append(w)
        else:
            lines.append([w])
    return [w for line in lines for w in sorted(line, key=lambda w: w.box[0])]


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB ``'#RRGGBB'`` (0 = black … 1 = white); :func:`brandflow.colour.wcag_luminance`."""
    return wcag_luminance(hex_to_rgb(hex_colour))


@dataclass(frozen=True)
class PreparedRegion:
    """A region ready for OCR: ``crop`` is ``(h, w, 3) uint8`` RGB, dark text on white, scaled by ``scale``;
    ``origin`` is the crop's top-left ``(x, y)`` in the image; ``inverted`` is true when the RGB fallback of
    :func:`_normalise` inverted light-on-dark text."""

    region: TextRegion
    crop: np.ndarray
    origin: tuple[int, int]
    scale: float
    inverted: bool


def _stretch(crop: np.ndarray) -> np.ndarray:
    """Per-crop contrast stretch, one affine map on R, G and B: 1st luma percentile → 0, 90th → 255."""
    luma = crop.reshape(-1, 3) @ np.array([0.299, 0.587, 0.114])
    lo, hi = np.percentile(luma, [1, 90])
    if hi - lo < 8:  # nothing to stretch
        return crop
    return np.clip((crop.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _hex_rgb(hex_colour: str) -> np.ndarray:
    return np.array(hex_to_rgb(hex_colour), np.float32)


def _normalise(crop: np.ndarray, region: TextRegion) -> tuple[np.ndarray, bool]:
    """Make a region crop dark text on a white ground. Returns ``(crop, inverted)``.

    Overlay text is drawn in one known colour (``region.fg``), so each pixel's RGB distance to ``fg``,
    scaled by its 90th percentile (the background), is a text map that ignores what lies behind the text
    (gradients, packshot edges, two-tone panels). Measured on 270 synthetic regions (18–80 px, on gradients,
    packshots and flat colours): 12 below NED 0.9 against 17 for the RGB crop (inverted when light-on-dark,
    contrast-stretched), nearly all of them text over same-coloured product parts. DESIGN.md's advice to pass
    RGB rather than greyscale is about luminance greyscale, which loses text whose colour differs from the
    background in hue only; the distance map keeps that difference. When the text colour is not in the crop
    (distance percentile < 20, e.g. a wrong ``fg``), the RGB route is used: inverted if ``fg`` is lighter than
    ``bg`` (WCAG relative luminance), then contrast-stretched.
    """
    dist = np.linalg.norm(crop.astype(np.float32) - _hex_rgb(region.fg), axis=2)
    hi = float(np.percentile(dist, 90))
    if hi >= 20.0:
        grey = (np.clip(dist / hi, 0.0, 1.0) * 255.0).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2), False
    inverted = relative_luminance(region.fg) > relative_luminance(region.bg)
    return _stretch(255 - crop if inverted else crop), inverted


def prepare_region(image: np.ndarray, region: TextRegion) -> PreparedRegion | None:
    """Crop ``region.box`` plus a margin of 15 % of ``font_px`` from an ``(H, W, 3) uint8`` image, make it dark
    text on white (:func:`_normalise`), whiten everything more than 2 px outside the box, and scale it so the
    cap height (:data:`CAP_RATIO` × ``font_px``) becomes :data:`TARGET_CAP_PX`. ``None`` when the box lies
    outside the image."""
    h, w = image.shape[:2]
    m = max(2, round(0.15 * region.font_px))
    x0, y0 = max(0, region.box.x0 - m), max(0, region.box.y0 - m)
    x1, y1 = min(w, region.box.x1 + m), min(h, region.box.y1 + m)
    if x1 <= x0 or y1 <= y0:
        return None
    crop, inverted = _normalise(image[y0:y1, x0:x1], region)
    # keep the margin as white space, not content: neighbouring product print read as stray marks
    keep = np.zeros(crop.shape[:2], bool)
    bx0, by0 = max(0, region.box.x0 - 2 - x0), max(0, region.box.y0 - 2 - y0)
    keep[by0 : region.box.y1 + 2 - y0, bx0 : region.box.x1 + 2 - x0] = True
    crop = np.where(keep[..., None], crop, np.uint8(255))
    scale = float(np.clip(TARGET_CAP_PX / (CAP_RATIO * max(region.font_px, 1)), *SCALE_RANGE))
    if abs(scale - 1.0) > 0.1:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    else:
        scale = 1.0
    return PreparedRegion(region, np.ascontiguousarray(crop), (x0, y0), scale, inverted)


@dataclass(frozen=True)
class Reading:
    """What one OCR pass saw: per region (``None`` = box outside the image) the prepared crop and its words
    (boxes in image pixels, reading order), and the full-image words (``None`` when not asked for)."""

    regions: list[tuple[PreparedRegion, list[Word]] | None]
    full: list[Word] | None


def read_image(image: np.ndarray, regions: list[TextRegion], full: bool, lang: str = "eng") -> Reading:
    """OCR the ``regions`` of an ``(H, W, 3) uint8`` RGB image in one Tesseract call (the strip, ``--psm 6``) — and
    the whole image when ``full``, in a second call (the strip with the image below it, ``--psm 11``, the regions
    blanked; only the image's words are taken): module notes. The regions read the same whether or not the whole
    image is read.

    Raises:
        MissingDependencyError: see :func:`ocr_words`.
    """
    prepared = [prepare_region(image, r) for r in regions]
    live = [p for p in prepared if p is not None]
    if not live and not full:
        return Reading([None] * len(regions), None)
    pad, gap = TARGET_CAP_PX // 2, TARGET_CAP_PX
    bands: list[tuple[int, int]] = []
    y = pad
    for p in live:
        bands.append((y, y + p.crop.shape[0]))
        y += p.crop.shape[0] + gap
    per: list[list[Word]] = [[] for _ in live]
    strip = np.full((y - gap + pad if live else 0, max([p.crop.shape[1] + 2 * pad for p in live] + [1]), 3), 255, np.uint8)
    for p, (a, b) in zip(live, bands):
        strip[a:b, pad : pad + p.crop.shape[1]] = p.crop
    if live:
        for word in ocr_words(strip, psm=6, lang=lang):
            x0, y0, x1, y1 = word.box
            cy = (y0 + y1) / 2
            i = next((i for i, (a, b) in enumerate(bands) if a - gap / 2 <= cy < b + gap / 2), None)
            if i is None:
                continue
            p, a = live[i], bands[i][0]
            ox, oy = p.origin
            box = (round((x0 - pad) / p.scale) + ox, round((y0 - a) / p.scale) + oy,
                   round((x1 - pad) / p.scale) + ox, round((y1 - a) / p.scale) + oy)
            per[i].append(Word(word.text, word.conf, box))
    full_words: list[Word] = []
    if full:  # the canvas the whole image has always been read on (the strip above it): its detection power is
        # measured that way (bench/qa.py part (d)); read alone, it caught 65 of 128 forbidden words instead of 74
        full_y0 = strip.shape[0] + (gap if live else 0)
        canvas = np.full((full_y0 + image.shape[0], max(strip.shape[1], image.shape[1]), 3), 255, np.uint8)
        canvas[: strip.shape[0], : strip.shape[1]] = strip
        rest = canvas[full_y0:, : image.shape[1]]
        rest[:] = image
        for p in live:  # already read in the strip: blank them (median colour) so Tesseract skips them
            ph, pw = round(p.crop.shape[0] / p.scale), round(p.crop.shape[1] / p.scale)
            box = rest[p.origin[1] : p.origin[1] + ph, p.origin[0] : p.origin[0] + pw]
            box[:] = np.median(box.reshape(-1, 3), axis=0).astype(np.uint8)
        for word in ocr_words(canvas, psm=11, lang=lang):
            x0, y0, x1, y1 = word.box
            if (y0 + y1) / 2 >= full_y0:  # the strip's words come from its own reading above
                full_words.append(Word(word.text, word.conf, (x0, y0 - full_y0, x1, y1 - full_y0)))
    it = iter(per)
    out = [None if p is None else (p, reading_order(next(it))) for p in prepared]
    return Reading(out, full_words if full else None)  # full image: Tesseract's block order


def reread_other_direction(image: np.ndarray, regions: list[TextRegion], reading: Reading, lang: str) -> Reading:
    """``reading`` with the words of each region's parts set in the other direction than its text
    (:func:`brandflow.qa.tokens.is_rtl`; ``region.parts``, recorded by compose) replaced by a reading of those parts
    alone — in a second Tesseract call, so the regions' own reading is unchanged. Tesseract's Arabic and Hebrew
    models drop the Western digits of a right-to-left line (``129.00 ر.س.`` read as ``0 رر.س.``); alone, with the
    same languages, the digits read exactly. Regions without such parts cost nothing."""
    from brandflow.qa.tokens import is_rtl

    subs = [(i, r.model_copy(update={"text": p.text, "box": p.box, "parts": []}))
            for i, r in enumerate(regions) if r.parts and i < len(reading.regions) and reading.regions[i] is not None
            for p in r.parts if is_rtl(p.text) != is_rtl(r.text) and normalise_text(p.text)]
    if not subs:
        return reading
    out = list(reading.regions)
    for (i, sub), got in zip(subs, read_image(image, [s for _, s in subs], full=False, lang=lang).regions):
        if got is None or out[i] is None:
            continue
        b = sub.box
        prep, words = out[i]  # type: ignore[misc]
        kept = [w for w in words if not (b.x0 <= (w.box[0] + w.box[2]) / 2 < b.x1 and b.y0 <= (w.box[1] + w.box[3]) / 2 < b.y1)]
        out[i] = (prep, reading_order(kept + got[1]))
    return Reading(out, reading.full)


def _words_json(words: list[Word]) -> list[dict[str, Any]]:
    return [{"text": w.text, "conf": w.conf, "box": list(w.box)} for w in words]


# --------------------------------------------------------------------------- the check
def _region_crop(image: np.ndarray, region: TextRegion) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The region's box plus a margin of half its font size, clipped to the image: ``(crop, (x0, y0))``."""
    h, w = image.shape[:2]
    m = max(4, region.font_px // 2)
    x0, y0 = max(0, region.box.x0 - m), max(0, region.box.y0 - m)
    x1, y1 = min(w, region.box.x1 + m), min(h, region.box.y1 + m)
    if x1 <= x0 or y1 <= y0:
        return None
    return image[y0:y1, x0:x1], (x0, y0)


class TextThresholds(PluginOptions):
    min_ned: float = Field(default=0.9, ge=0, le=1, description="normalised edit distance similarity (AnyText): "
                           "reported beside each reading; the verdict is decided per token (prices and numbers exactly)")
    engine: Literal["auto", "tesseract", "rapidocr", "both"] = Field(
        default="auto", description="OCR engines: auto = Tesseract for the overlay regions and the scene-text engine "
        "(RapidOCR PP-OCR) for text at unknown positions, each asking the other for a second opinion when not exact; "
        "tesseract / rapidocr = that engine for unknown positions; both = always both"
    )


def _scene_words(image: np.ndarray, origin: tuple[int, int] = (0, 0)) -> list[Word]:
    """RapidOCR words of an ``(H, W, 3) uint8`` image, boxes shifted by ``origin`` (image pixels)."""
    from brandflow.qa.scene_text import read_scene_text  # onnxruntime loads only when a scene reading is needed

    ox, oy = origin
    return [Word(w.text, w.conf, (w.box[0] + ox, w.box[1] + oy, w.box[2] + ox, w.box[3] + oy))
            for w in read_scene_text(image).words]


def _scene_engine_ready() -> bool:
    from brandflow.qa.scene_text import available

    return available()


def _decision_json(d: TextDecision) -> dict[str, Any]:
    return {
        "verdict": d.verdict, "reasons": list(d.reasons),
        "engines": {r.engine: {"read": r.read, "ned": round(r.ned, 4),
                               "tokens": [{"expected": f.expected, "read": f.read, "status": f.status} for f in r.findings]}
                    for r in d.readings},
    }


def _better(a: TextDecision | None, b: TextDecision) -> TextDecision:
    """The more favourable of two decisions for one expected string: lower verdict rank, then higher NED."""
    rank = {"pass": 0, "warn": 1, "fail": 2}
    if a is None or (rank[b.verdict], -b.ned) < (rank[a.verdict], -a.ned):
        return b
    return a


class TextCheck:
    """Does the image say exactly the expected text? Overlay regions, expected strings, forbidden words.

    Decisions are per token (:mod:`brandflow.qa.tokens`): numbers, prices, percentages and currency must match
    exactly; a word read as another real word fails; OCR look-alike noise warns; a missing-glyph box (tofu) fails;
    text in a script the OCR languages do not read warns and says so. NED and word precision/recall are metrics.

    * Each ``ctx.regions`` entry (where compose drew text): the font coverage of its text is checked first
      (``region.fonts``, :func:`brandflow.glyphs.missing_glyphs`: characters no font draws are tofu → fail); then
      Tesseract reads the region (strip, module notes). A region Tesseract does not read exactly is read again by
      the scene-text engine (RapidOCR, on the region's crop) and the two readings are combined
      (:func:`brandflow.qa.tokens.combine`): engines agreeing raise confidence, disagreeing on a token warns.
    * Each ``ctx.expected_text`` string: first the region readings are searched; otherwise the whole image is
      read — by the scene-text engine (engine ``auto``, the default, and ``rapidocr``), by Tesseract
      (``tesseract``), or both (``both``; ``auto`` adds Tesseract when the scene-text decision is not a pass).
      The best-matching run of words is decided token by token.
    * ``brand.forbidden_words``: searched (case-insensitive, whole words) in every reading → fail naming each word
      found. When the generator recorded what it pasted (``ctx.placed``: the compositor's packshots, compose's logo),
      those and the regions are the only letters in the image: each source is read once per run
      (:mod:`brandflow.qa.source_text`, metric ``forbidden_sources``) instead of the whole image. Otherwise the whole
      image is read (Tesseract's full-image reading, a second call beside the region strip's).

    Metrics per region: ``read``, ``ned``, ``precision``/``recall``, mean Tesseract ``conf`` (0–100), ``words`` with
    boxes (image pixels), ``verdict``, ``reasons``, per-engine ``engines`` token statuses. Per expected string:
    ``best_match``, ``ned``, ``source`` (which reading), ``verdict``, ``reasons``. ``full_text``/``full_words``: the
    full-image Tesseract reading; ``scene_text``/``scene_words``: RapidOCR's. ``qa.text.min_ned`` is reported,
    not decided on (a one-character difference can be a wrong price).

    ``run(image, ctx)``: ``image`` is ``(H, W, 3) uint8`` sRGB.

    Raises:
        ValueError: ``image`` has another shape or dtype; ``qa.text.engine`` is not one of :data:`ENGINES`.
        MissingDependencyError: the ``tesseract`` binary is missing (``apt-get install -y tesseract-ocr``), or
            engine ``rapidocr``/``both`` without a RapidOCR package installed (``auto`` falls back to Tesseract
            with a note).
    """

    name = "text"
    Options = TextThresholds  # its settings: qa.<name> in the campaign, validated when it loads

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be an (H, W, 3) uint8 sRGB array; got {getattr(image, 'shape', type(image))}")
        min_ned = ctx.thresholds.text.min_ned
        engine = ctx.thresholds.text.engine
        if engine not in ENGINES:
            raise ValueError(f"qa.text.engine must be one of {', '.join(ENGINES)}; got {engine!r}")
        fails: list[str] = []
        warns: list[str] = []
        notes = [f"region {r.slot!r} has empty text; not checked" for r in ctx.regions if not normalise_text(r.text)]
        regions = [r for r in ctx.regions if normalise_text(r.text)]
        expected = [t for t in ctx.expected_text if normalise_text(t)]
        if len(expected) < len(ctx.expected_text):
            notes.append(f"{len(ctx.expected_text) - len(expected)} empty expected string(s) ignored")
        forbidden = [w for w in ctx.brand.forbidden_words if normalise_text(w)]
        scene_ok = engine == "tesseract" or _scene_engine_ready()
        if not scene_ok:
            if engine != "auto":
                from brandflow.qa.scene_text import get_engine

                get_engine()  # raises MissingDependencyError with the install command
            notes.append("the scene-text engine (rapidocr) is not installed: Tesseract alone read the text "
                         "(pip install 'brandflow[scene-text]')")
        tess_regions = bool(regions)
        # Tesseract's full-image reading (a second call beside the region strip's): always for engines tesseract/both,
        # for auto only when forbidden words must be searched in a creative whose overlay regions are known (the
        # run: the scene-text engine would cost ~0.4 s more per creative), or when no scene-text engine exists.
        # A creative whose pasted inputs are recorded (ctx.placed: the compositor's packshots, the logo) has no other
        # letters than those and the regions: forbidden words are then searched in each source, read once per run
        # (brandflow.qa.source_text), not in a whole-image reading — when this run recorded them (ctx.placed_is_own),
        # not a record found beside a file, which could name sources other than the pixels hold.
        by_source = ctx.placed is not None and ctx.placed_is_own
        tess_full = bool(expected or (forbidden and not by_source)) and (engine in ("tesseract", "both") or not scene_ok) or bool(
            forbidden and engine == "auto" and regions and not by_source)
        reading = read_image(image, regions, full=tess_full, lang=ctx.lang) if (tess_regions or tess_full) else Reading([], None)
        reading = reread_other_direction(image, regions, reading, ctx.lang)

        # ---- regions: font coverage, Tesseract, then a second engine where Tesseract is not exact
        region_metrics = []
        region_words: list[tuple[str, dict[str, list[Word]]]] = []
        for region, res in zip(regions, reading.regions):
            if res is None:
                fails.append(f"{region.slot}: box {region.box.model_dump()} lies outside the {image.shape[1]}×{image.shape[0]} image")
                region_metrics.append({"slot": region.slot, "expected": region.text, "read": "", "ned": 0.0, "words": [],
                                       "verdict": "fail"})
                continue
            prep, words = res
            tofu = _missing_glyphs(region)
            emoji = [] if tofu else _emoji_drawn_in_colour(region)
            if emoji:
                notes.append(f"{region.slot}: OCR cannot read emoji; {', '.join(emoji)} verified by font coverage "
                             f"instead (drawn with a colour emoji font)")

            def compare(e: str, ws: list[Word], region=region, emoji=emoji) -> TokenReading:
                return _without_emoji(compare_reading(region.text, ws, e, lang=ctx.lang), region.text, emoji, e, ctx.lang)

            per_engine: dict[str, list[Word]] = {"tesseract": words}
            decision = combine(region.text, [compare("tesseract", words)])
            if (decision.verdict != "pass" or engine == "both") and scene_ok and engine != "tesseract":
                crop = _region_crop(image, region)
                if crop is not None:
                    per_engine["rapidocr"] = _scene_words(*crop)
                    decision = combine(region.text, [compare(e, per_engine[e]) for e in per_engine])
            region_words.append((region.slot, per_engine))
            read = " ".join(w.text for w in words)
            precision, recall = word_precision_recall(read, region.text)
            verdict, why = decision.verdict, list(decision.reasons)
            if tofu:
                verdict = "fail"
                why.insert(0, f"tofu: the font(s) {', '.join(Path(f).name for f in region.fonts)} cannot draw "
                              f"{describe_chars(tofu)}: they show as missing-glyph boxes")
            region_metrics.append({
                "slot": region.slot, "expected": region.text, "read": read, "ned": round(ned(read, region.text), 4),
                "precision": round(precision, 4), "recall": round(recall, 4),
                "conf": round(float(np.mean([w.conf for w in words])), 1) if words else 0.0,
                "words": _words_json(words), "scale": round(prep.scale, 3), "inverted": prep.inverted,
                **_decision_json(decision), "verdict": verdict, "reasons": why,
            })
            target = fails if verdict == "fail" else warns if verdict == "warn" else None
            if target is not None:
                target.extend(f"{region.slot}: {r}" for r in why)

        metrics: dict[str, Any] = {"regions": region_metrics}
        if tess_regions or tess_full:
            metrics["ocr_engine"] = ocr_engine()  # which Tesseract read the regions / full image

        # ---- expected strings: region readings first, then the whole image
        scene_full: list[Word] | None = None
        tess_full_words = reading.full
        expected_metrics = []
        for text in expected:
            best: TextDecision | None = None
            source = ""
            for slot, per_engine in region_words:
                d = combine(text, [compare_reading(text, w, e, window=True, lang=ctx.lang) for e, w in per_engine.items()])
                if _better(best, d) is d:
                    best, source = d, f"region:{slot}"
            if best is None or best.verdict != "pass":
                full_readings: dict[str, list[Word]] = {}
                if scene_ok and engine != "tesseract":
                    if scene_full is None:
                        scene_full = _scene_words(image)
                    full_readings["rapidocr"] = scene_full
                first = combine(text, [compare_reading(text, w, e, window=True, lang=ctx.lang) for e, w in full_readings.items()]) \
                    if full_readings else None
                if engine != "rapidocr" and (first is None or first.verdict != "pass" or engine == "both"):
                    if tess_full_words is None:
                        tess_full_words = read_image(image, [], full=True, lang=ctx.lang).full or []
                    full_readings["tesseract"] = tess_full_words
                d = combine(text, [compare_reading(text, w, e, window=True, lang=ctx.lang) for e, w in full_readings.items()])
                if first is not None and _better(first, d) is first and engine == "auto":
                    d = first  # the second engine was asked for a second opinion; it may not make things worse
                if _better(best, d) is d:
                    best, source = d, "full:" + "+".join(r.engine for r in d.readings)
            assert best is not None
            expected_metrics.append({"expected": text, "best_match": best.read, "ned": round(best.ned, 4),
                                     "source": source, **_decision_json(best)})
            target = fails if best.verdict == "fail" else warns if best.verdict == "warn" else None
            if target is not None:
                target.extend(f"expected text {text!r}: {r}" for r in best.reasons)

        # ---- forbidden words: every reading (each pasted source instead of the whole image when they are known)
        if forbidden:
            source_texts = _source_texts(ctx, engine, scene_ok, notes) if by_source else None
            if source_texts is not None:
                metrics["forbidden_sources"] = source_texts
            elif tess_full_words is None and scene_full is None:
                if scene_ok and engine != "tesseract" and not (engine == "auto" and regions):
                    scene_full = _scene_words(image)
                else:
                    tess_full_words = read_image(image, [], full=True, lang=ctx.lang).full or []
            texts = [" ".join(w.text for w in ws) for ws in (tess_full_words, scene_full) if ws]
            texts += [t["read"] for t in source_texts or () if t["read"]]
            texts += [" ".join(w.text for w in ws) for _, per in region_words for ws in per.values()]
            found = find_forbidden(" | ".join(texts), forbidden)  # "|" stops a phrase spanning two texts
            if found:
                fails.append(f"forbidden word(s) in the image: {', '.join(found)}")
            metrics["forbidden_found"] = found
        if expected or forbidden:
            metrics |= {"engine": engine, "expected": expected_metrics}
            if tess_full_words is not None:
                metrics |= {"full_text": " ".join(w.text for w in tess_full_words), "full_words": _words_json(tess_full_words)}
            if scene_full is not None:
                metrics |= {"scene_text": " ".join(w.text for w in scene_full), "scene_words": _words_json(scene_full)}
        if scene_ok and engine != "tesseract" and (scene_full is not None or any("rapidocr" in p for _, p in region_words)):
            from brandflow.qa.scene_text import engine_name

            metrics["scene_engine"] = engine_name()
        if notes:
            metrics["notes"] = notes
        if fails or warns:
            metrics["plain"] = fails + warns  # the review report shows these sentences as they are
        return CheckResult(
            check=self.name,
            verdict="fail" if fails else "warn" if warns else "pass",
            metrics=metrics,
            thresholds={"min_ned": min_ned, "forbidden_words": forbidden, "engine": engine, "decision": "per token"},
            reasons=fails + warns,
        )


def _emoji_drawn_in_colour(region: TextRegion) -> list[str]:
    """The emoji (grapheme clusters) of the region's text that one of its recorded fonts draws from colour bitmaps
    (every character of the cluster in that font's cmap): compose drew them, OCR cannot read them. Empty when no
    font is recorded."""
    from brandflow.glyphs import bitmap_strike, draws_nothing, emoji_clusters, font_codepoints

    colour = [f for f in region.fonts if Path(f).is_file() and bitmap_strike(f)]
    return [cl for cl in emoji_clusters(region.text)
            if any(all(ord(c) in font_codepoints(f) or draws_nothing(c) for c in cl) for f in colour)]


def _without_emoji(reading: TokenReading, text: str, emoji: list[str], engine: str, lang: str) -> TokenReading:
    """``reading`` of ``text`` without its "cannot be verified" findings whose unreadable characters all belong to
    ``emoji`` (verified by font coverage instead), its NED taken against ``text`` without them; unchanged when nothing
    else in the text can be read (an emoji-only text still warns)."""
    from brandflow.glyphs import graphemes
    from brandflow.qa.tokens import unreadable_chars

    chars = {c for cl in emoji for c in cl}
    if not chars:
        return reading
    keep = tuple(f for f in reading.findings if not (
        f.status == "unverifiable" and set(unreadable_chars(f.expected, engine, lang)) <= chars))
    if not any(f.status != "unverifiable" for f in keep):
        return reading
    rest = "".join(cl for cl in graphemes(text) if cl not in emoji)
    return dataclasses.replace(reading, findings=keep, ned=ned(reading.read, rest))


def _source_texts(ctx: CheckContext, engine: str, scene_ok: bool, notes: list[str]) -> list[dict[str, Any]] | None:
    """What each pasted source of ``ctx.placed`` says (:mod:`brandflow.qa.source_text`: read once per run and reused):
    ``[{"source", "role", "read", "engine"}]``, one entry per source and engine — Tesseract (sparse text,
    ``--psm 11``, the reading the whole image used to get), and the scene-text engine too for ``rapidocr`` / ``both``
    (each source on its mattes, :func:`brandflow.qa.source_text.on_matte`). With ``auto`` the primary packshot's
    scene-text reading is added: the one the identity check reads its lettering from, comparing that packshot first
    (:func:`brandflow.qa.label_text.packshot_reading`: once per packshot and run, whichever check asks first), so it
    costs no second reading when identity is on; an alternate view pasted beside it is read by Tesseract alone
    (identity reads it only when the primary does not pass). Neither reading dominates the other word by word;
    together they caught 127 of 128 forbidden words printed on the example's packshots against Tesseract's 99 alone,
    and 60 of 60 on 15 held-out product views (bench/qa.py part (d)).
    ``None`` when a source cannot be read (file gone or changed): the caller reads the whole image instead (noted)."""
    from brandflow.qa.label_text import packshot_reading
    from brandflow.qa.source_text import source_words

    readers: list[tuple[str, Any]] = [(f"tesseract psm11 {ctx.lang} {ocr_engine()}",
                                       lambda img: ocr_words(img, psm=11, lang=ctx.lang))]
    if scene_ok and engine in ("rapidocr", "both"):
        from brandflow.qa.scene_text import engine_name

        readers.append((f"scene {engine_name()}", _scene_words))
    out = []
    seen: set[tuple[str, str]] = set()
    for source in ctx.placed or ():
        for label, reader in readers:
            if (source.sha256, label) in seen:  # the same packshot pasted twice (two views of one file)
                continue
            seen.add((source.sha256, label))
            try:
                words, _reused = source_words(source, reader, label, ctx.cache_dir)
            except (ImageError, ValueError, OSError) as e:
                notes.append(f"pasted source {Path(source.path).name} could not be read again ({e}): the whole image was read")
                return None
            out.append({"source": Path(source.path).name, "role": source.role, "read": " ".join(w.text for w in words),
                        "engine": label.split()[0]})  # not whether it was reused: a QA result depends on the pixels only
        if scene_ok and engine == "auto" and source.role == "primary_packshot" and (source.sha256, "label") not in seen:
            seen.add((source.sha256, "label"))
            try:  # a changed file raises ValueError (its sha256 is checked before it is read)
                reading = packshot_reading(source.sha256, path=Path(source.path), cache_dir=ctx.cache_dir)
            except (ImageError, ValueError, OSError) as e:
                notes.append(f"pasted source {Path(source.path).name} could not be read again ({e}): the whole image was read")
                return None
            out.append({"source": Path(source.path).name, "role": source.role,
                        "read": " ".join(text for text, _conf, _box in reading), "engine": "rapidocr"})
    return out


def _missing_glyphs(region: TextRegion) -> list[str]:
    """Characters of the region's text that none of its recorded fonts draws (``[]`` when no font is recorded or a
    font file is gone: then only the OCR reading can show tofu)."""
    from brandflow.glyphs import missing_glyphs

    fonts = [f for f in region.fonts if Path(f).is_file()]
    if not fonts:
        return []
    try:
        return missing_glyphs(region.text, fonts)
    except ValueError:
        return []
