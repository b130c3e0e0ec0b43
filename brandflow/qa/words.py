"""One OCR word, the shape every OCR engine of text QA returns (Tesseract in :mod:`brandflow.qa.text`, RapidOCR in
:mod:`brandflow.qa.scene_text`). Its own module so that neither engine module imports the other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """One OCR word: ``text`` as read, confidence ``conf`` (0–100: Tesseract's scale; RapidOCR's 0–1 × 100) and
    axis-aligned ``box`` ``(x0, y0, x1, y1)`` in integer image pixels."""

    text: str
    conf: float
    box: tuple[int, int, int, int]


__all__ = ["Word"]
