"""Scene-text OCR for text at unknown positions: RapidOCR (PaddleOCR detection + recognition, ONNX Runtime).

The Tesseract route of :mod:`brandflow.qa.text` is tuned for text whose box and colour are known (compose
records them). Text a generative model painted itself, a forbidden word on the packaging, or an agency's
image have no such record: a scene-text detector finds the lines first. Two registry packages ship PaddleOCR's
ONNX models **inside their wheels** (no download at run time; Apache-2.0 code and weights):

* ``rapidocr`` ≥ 3.10 (preferred): PP-OCRv6 small detection + recognition (``rapidocr/models/*.onnx``, ~31 MB),
  import name ``rapidocr``; depends on ``opencv-python-headless``, needs ``onnxruntime``.
* ``rapidocr-onnxruntime`` 1.4.x (fallback when the first is absent): PP-OCRv4; declares the GUI ``opencv-python``
  (needs ``libGL.so.1``); on slim images ``pip install --no-deps rapidocr-onnxruntime==1.4.4``.

The angle classifier is off: creatives are upright, and rapidocr 3's configured classifier is not in its wheel.

Output shape: :class:`~brandflow.qa.words.Word` (text, confidence 0–100, axis-aligned box ``(x0, y0, x1, y1)`` in
image pixels) — the shape of the Tesseract words — plus :class:`Line` with the detector's quadrilateral. Cost on a
1080 × 1080 creative, one core: see bench/results/qa.md; detection runs at :data:`DET_MAX_SIDE`.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from threading import Lock
from typing import Any

import numpy as np

from brandflow.errors import MissingDependencyError
from brandflow.qa.words import Word

#: Longest image side the detector sees, px (larger images are scaled down for detection only; recognition
#: crops come from the full-resolution image). 960 keeps 18 px text ≥ 16 px for the detector on a
#: 1080 × 1080 creative; rapidocr's own default (shortest side ≥ 736, no upper bound) detects at full size.
DET_MAX_SIDE = 960
#: Lines whose recognition confidence (0–1) is below this are dropped (rapidocr's ``text_score``).
MIN_LINE_CONF = 0.5
INSTALL_HINT = "pip install 'brandflow[scene-text]' (rapidocr>=3.10 with onnxruntime)"
#: Images with a side shorter than this (px) hold no readable text; the engines are not called on them.
MIN_SIDE = 8


@dataclass(frozen=True)
class Line:
    """One detected text line.

    Attributes:
        text: the recognised string (as read; not normalised).
        conf: recognition confidence, 0–100 (rapidocr's 0–1 score × 100, the scale of Tesseract's ``conf``).
        box: axis-aligned ``(x0, y0, x1, y1)`` bounding box of ``quad``, integer image pixels.
        quad: the detector's quadrilateral, four ``(x, y)`` corners clockwise from top-left, float pixels.
        words: the line's words (split on whitespace) with their own boxes and confidences.
    """

    text: str
    conf: float
    box: tuple[int, int, int, int]
    quad: tuple[tuple[float, float], ...]
    words: tuple[Word, ...]


@dataclass(frozen=True)
class SceneText:
    """A full-image scene-text reading: ``lines`` in reading order (:func:`reading_order`), ``words`` of all lines in
    the same order, ``text`` the lines joined by spaces, ``seconds`` wall time of the OCR call."""

    lines: tuple[Line, ...]
    seconds: float

    @property
    def words(self) -> list[Word]:
        """Every word of every line, in reading order."""
        return [w for line in self.lines for w in line.words]

    @property
    def text(self) -> str:
        """All lines joined by single spaces."""
        return " ".join(line.text for line in self.lines)


_engines: dict[tuple[int, int], Any] = {}
_lock = Lock()


def default_threads() -> int:
    """ONNX Runtime intra-op threads: ``OMP_THREAD_LIMIT`` when set to a number ≥ 1 (as for Tesseract), else 1.

    One thread, not ONNX Runtime's one per core, because brandflow runs several jobs at once and each reads in its
    own thread: reading 24 packshots took 11.1–12.9 s of CPU with one intra-op thread against 15.6–18.6 s with two,
    the same lines (3 alternated pairs of fresh processes on this 2-core machine, 2026-12-02). It is also the same
    whatever ran first: the default used to follow ``OMP_THREAD_LIMIT``, which the Tesseract reader sets when it
    is first used, so a run built engines of both kinds depending on which check read first."""
    try:
        return max(1, int(os.environ["OMP_THREAD_LIMIT"]))
    except (KeyError, ValueError):
        return 1


def get_engine(threads: int | None = None, det_max_side: int = DET_MAX_SIDE) -> Any:
    """The process-wide RapidOCR engine for these settings (created once, ~0.3 s): ``rapidocr`` 3.x (PP-OCRv6)
    when installed, else ``rapidocr_onnxruntime`` (PP-OCRv4). See :func:`engine_name`.

    Args:
        threads: ONNX Runtime intra-op threads; ``None`` → :func:`default_threads`.
        det_max_side: longest side for detection, px (≥ 32).

    Raises:
        MissingDependencyError: neither package (or onnxruntime) is installed; the message has the install command.
    """
    threads = default_threads() if threads is None else threads
    key = (threads, det_max_side)
    with _lock:
        if key in _engines:
            return _engines[key]
        try:
            from rapidocr import RapidOCR

            engine = RapidOCR(params={
                "Global.use_cls": False, "Global.text_score": MIN_LINE_CONF, "Global.log_level": "critical",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "Det.limit_type": "max", "Det.limit_side_len": det_max_side,
            })
            engine._brandflow_name = "rapidocr/PP-OCRv6"
        except ImportError as first:
            try:
                from rapidocr_onnxruntime import RapidOCR as RapidOCRv1
            except ImportError as e:
                raise MissingDependencyError(
                    f"the scene-text OCR engine needs rapidocr ({first}; {e}); install it: {INSTALL_HINT}"
                ) from e
            engine = RapidOCRv1(
                intra_op_num_threads=threads, inter_op_num_threads=1, text_score=MIN_LINE_CONF,
                det_limit_type="max", det_limit_side_len=det_max_side, use_cls=False,
            )
            engine._brandflow_name = "rapidocr-onnxruntime/PP-OCRv4"
        _engines[key] = engine
        return engine


def engine_name(threads: int | None = None) -> str:
    """``"rapidocr/PP-OCRv6"`` or ``"rapidocr-onnxruntime/PP-OCRv4"``: which package and model generation reads.

    Raises:
        MissingDependencyError: see :func:`get_engine`.
    """
    return str(get_engine(threads)._brandflow_name)


def available() -> bool:
    """True when a scene-text engine can be created (a package is installed); never raises."""
    try:
        get_engine()
    except MissingDependencyError:
        return False
    return True


def _raw_lines(engine: Any, bgr: np.ndarray) -> list[tuple[np.ndarray, str, float, list[tuple[str, Any, float]] | None]]:
    """``(quad, text, conf 0–1, pieces)`` per detected line from either package's output."""
    if engine._brandflow_name.startswith("rapidocr/"):
        out = engine(bgr, return_word_box=True)
        if out is None or out.txts is None or out.boxes is None:
            return []
        words = out.word_results if out.word_results else [None] * len(out.txts)
        lines = []
        for quad, text, score, pieces in zip(out.boxes, out.txts, out.scores, words):
            lines.append((np.asarray(quad, np.float64), str(text), float(score),
                          [(str(t), b, float(c)) for t, c, b in pieces] if pieces else None))
        return lines
    result, _ = engine(bgr, return_word_box=True)
    lines = []
    for item in result or []:
        pieces = None
        if len(item) >= 6 and item[3] and item[4] and len(item[3]) == len(item[4]) == len(item[5]):
            pieces = list(zip(item[4], item[3], item[5]))  # (content, quad, conf)
        lines.append((np.asarray(item[0], np.float64), str(item[1]), float(item[2]), pieces))
    return lines


def _aabb(points: np.ndarray) -> tuple[int, int, int, int]:
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return int(np.floor(p[:, 0].min())), int(np.floor(p[:, 1].min())), int(np.ceil(p[:, 0].max())), int(np.ceil(p[:, 1].max()))


def split_words(text: str, conf: float, quad: np.ndarray, pieces: list[tuple[str, np.ndarray, float]] | None) -> tuple[Word, ...]:
    """Split one recognised line into :class:`~brandflow.qa.text.Word` s (whitespace-separated).

    Args:
        text: the line as recognised.
        conf: the line confidence, 0–100 (used when ``pieces`` give none).
        quad: ``(4, 2)`` line quadrilateral, image pixels.
        pieces: rapidocr's per-piece boxes (``return_word_box``): ``(content, (4, 2) quad, conf 0–1)`` for each
            character (Chinese model) or word, in text order; ``None`` or unalignable → each word's box is its
            share of the line box by character position (the line is assumed horizontal).

    Returns:
        The words in order; boxes are axis-aligned ``(x0, y0, x1, y1)`` integer pixels, confidences 0–100.
    """
    spans = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    if not spans:
        return ()
    aligned: list[tuple[int, int, np.ndarray, float]] = []  # (start, end, quad, conf) per piece
    if pieces:
        pos = 0
        for content, pquad, pconf in pieces:
            content = content.strip()
            if not content:
                continue
            at = text.find(content, pos)
            if at < 0:
                aligned = []
                break
            aligned.append((at, at + len(content), np.asarray(pquad, np.float64).reshape(4, 2), float(pconf)))
            pos = at + len(content)
    words = []
    x0, y0, x1, y1 = _aabb(quad)
    for start, end, token in spans:
        mine = [a for a in aligned if a[0] < end and a[1] > start]
        if mine:
            box = _aabb(np.concatenate([a[2] for a in mine]))
            wconf = 100.0 * float(np.mean([a[3] for a in mine]))
        else:  # share of the line box by character position
            n = max(len(text), 1)
            box = (round(x0 + (x1 - x0) * start / n), y0, round(x0 + (x1 - x0) * end / n), y1)
            wconf = conf
        words.append(Word(token, round(wconf, 1), box))
    return tuple(words)


def reading_order(lines: list[Line]) -> list[Line]:
    """Sort detected lines into reading order: rows top to bottom, each row left to right.

    A box joins a row when it overlaps the row's vertical span by at least half the smaller of its height and
    the span. rapidocr's own order (top edge, then a single swap pass) misorders the separately detected words of
    one large, widely spaced headline when their top edges differ by a few pixels ("Gift 50 card" for "Gift card
    50"). The span, not the row's smallest box, sets the bar: measured against a small logo beside a headline's
    first line, the tightly led second line joined the row and read first ("Mug Mighty").
    """
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        if rows:
            row = rows[-1]
            top, bottom = min(r.box[1] for r in row), max(r.box[3] for r in row)
            overlap = min(ln.box[3], bottom) - max(ln.box[1], top)
            if overlap >= 0.5 * min(ln.box[3] - ln.box[1], bottom - top):
                row.append(ln)
                continue
        rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.box[0])]


def read_scene_text(image: np.ndarray, *, threads: int | None = None, det_max_side: int = DET_MAX_SIDE) -> SceneText:
    """Detect and recognise all text in an image (positions unknown).

    Args:
        image: ``(H, W, 3) uint8`` sRGB (RGB order; converted to BGR for rapidocr here).
        threads: ONNX Runtime intra-op threads (see :func:`get_engine`).
        det_max_side: longest side for detection, px.

    Returns:
        :class:`SceneText`: lines (confidence ≥ :data:`MIN_LINE_CONF`) in :func:`reading_order`, with words;
        empty when nothing is found.

    Raises:
        ValueError: ``image`` is not ``(H, W, 3) uint8``.
        MissingDependencyError: rapidocr-onnxruntime is not installed.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an (H, W, 3) uint8 sRGB array; got {getattr(image, 'shape', type(image))}")
    engine = get_engine(threads, det_max_side)
    t0 = time.perf_counter()
    if min(image.shape[:2]) < MIN_SIDE:
        return SceneText((), 0.0)
    lines = []
    for quad, text, score, pieces in _raw_lines(engine, np.ascontiguousarray(image[..., ::-1])):
        quad = quad.reshape(4, 2)
        conf = round(100.0 * score, 1)
        if not text.strip():
            continue
        lines.append(Line(text.strip(), conf, _aabb(quad), tuple(map(tuple, quad.round(1).tolist())),
                          split_words(text.strip(), conf, quad, pieces)))
    return SceneText(tuple(reading_order(lines)), round(time.perf_counter() - t0, 4))


def lines_json(lines: tuple[Line, ...] | list[Line]) -> list[dict[str, Any]]:
    """Lines as JSON-ready dicts: ``{"text", "conf" (0–100), "box": [x0, y0, x1, y1], "quad": [[x, y] × 4]}``."""
    return [{"text": ln.text, "conf": ln.conf, "box": list(ln.box), "quad": [list(p) for p in ln.quad]} for ln in lines]


__all__ = ["DET_MAX_SIDE", "Line", "SceneText", "available", "engine_name", "get_engine", "lines_json", "read_scene_text", "reading_order", "split_words"]
