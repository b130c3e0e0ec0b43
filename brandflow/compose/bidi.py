"""Unicode bidi (UAX #9) for a line drawn in several fonts: embedding levels and visual order from FriBiDi.

Pillow's raqm runs the bidi algorithm on each text it is handed, but a text is handed with **one** font; a line that
needs several (an Arabic title with a Latin brand name in the bundled font, a price in digits) is drawn run by run,
so the runs must be put into visual order first. FriBiDi is the library raqm itself uses (``PIL.features.check
('fribidi')``; Debian ``libfribidi0``): it resolves each character's embedding level for the paragraph direction
(rules P2–P3, X1–I2 with bracket pairs N0) and the line's visual order (L1–L2). It is called through ``ctypes`` —
the shared library is already loaded by Pillow whenever raqm works, so there is no extra package.

Line breaking happens before this, on logical order (:func:`brandflow.compose.typeset.balanced_lines`); each line
is then reordered on its own with the paragraph's direction, as UAX #9 §3.4 prescribes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import lru_cache

from brandflow.errors import MissingDependencyError

#: FriBidiParType values (fribidi-bidi-types.h): strong LTR / RTL, and "ON" = take it from the first strong character.
PAR_LTR, PAR_RTL, PAR_ON = 0x110, 0x111, 0x40


@lru_cache(maxsize=1)
def _fribidi() -> ctypes.CDLL:
    name = ctypes.util.find_library("fribidi") or "libfribidi.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        raise MissingDependencyError(
            f"bidi layout needs the FriBiDi library ({e}): apt-get install -y libfribidi0 (Debian/Ubuntu), "
            "brew install fribidi (macOS)") from None
    lib.fribidi_get_par_embedding_levels_ex.restype = ctypes.c_int8
    lib.fribidi_reorder_line.restype = ctypes.c_int8
    return lib


@dataclass(frozen=True)
class BidiLine:
    """One line after UAX #9: ``levels[i]`` is the embedding level of logical character ``i`` after rule L1 (odd =
    right to left); ``order[v]`` is the logical index of the character at visual position ``v`` (left to right);
    ``rtl`` is the paragraph direction used."""

    levels: tuple[int, ...]
    order: tuple[int, ...]
    rtl: bool


@lru_cache(maxsize=4096)
def bidi_line(text: str, rtl: bool | None = None) -> BidiLine:
    """Levels and visual order of one line (a ``str`` of code points) by FriBiDi.

    Args:
        text: the line in logical order.
        rtl: the paragraph direction (``True`` right to left); ``None`` takes it from the line's first strong
            character (UAX #9 P2–P3). A line of a multi-line paragraph should get the paragraph's direction.

    Raises:
        MissingDependencyError: the FriBiDi shared library cannot be loaded.
    """
    n = len(text)
    if n == 0:
        return BidiLine((), (), bool(rtl))
    lib = _fribidi()
    chars = (ctypes.c_uint32 * n)(*map(ord, text))
    types, brackets = (ctypes.c_uint32 * n)(), (ctypes.c_uint32 * n)()
    levels = (ctypes.c_int8 * n)()
    lib.fribidi_get_bidi_types(chars, n, types)
    lib.fribidi_get_bracket_types(chars, n, types, brackets)
    base = ctypes.c_uint32(PAR_ON if rtl is None else PAR_RTL if rtl else PAR_LTR)
    if lib.fribidi_get_par_embedding_levels_ex(types, brackets, n, ctypes.byref(base), levels) == 0:
        raise ValueError(f"FriBiDi could not resolve the bidi levels of {text!r}")
    order = (ctypes.c_int * n)(*range(n))
    # flags 0: no mirroring or NSM reordering of characters — raqm shapes each run and does both itself
    if lib.fribidi_reorder_line(0, types, n, 0, base, levels, None, order) == 0:
        raise ValueError(f"FriBiDi could not reorder {text!r}")
    return BidiLine(tuple(levels), tuple(order), base.value == PAR_RTL)


def visual_runs(text: str, fonts: list[str], rtl: bool | None = None) -> list[tuple[int, int, bool]]:
    """The line cut into runs of one font and one direction, in visual order (left to right).

    Args:
        text: the line in logical order.
        fonts: the font file of each character (``len(fonts) == len(text)``).
        rtl: the paragraph direction, as in :func:`bidi_line`.

    Returns:
        ``[(start, end, run_rtl)]``: ``text[start:end]`` (logical order, handed whole to the shaper) drawn right to
        left when ``run_rtl``. Drawing the runs one after the other from the left gives UAX #9's visual order.
    """
    if len(fonts) != len(text):
        raise ValueError(f"visual_runs: {len(fonts)} fonts for {len(text)} characters")
    line = bidi_line(text, rtl)
    runs: list[list[int]] = []  # [start, end, level] with logical start/end
    prev = None
    for i in line.order:
        level = line.levels[i]
        if runs and prev is not None and level == runs[-1][2] and fonts[i] == fonts[prev] and (
                i == prev - 1 if level % 2 else i == prev + 1):
            run = runs[-1]
            run[0], run[1] = min(run[0], i), max(run[1], i + 1)
        else:
            runs.append([i, i + 1, level])
        prev = i
    return [(a, b, bool(lv % 2)) for a, b, lv in runs]


__all__ = ["BidiLine", "bidi_line", "visual_runs"]
