"""brandflow's domain errors: each names where the problem is and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class BrandflowError(Exception):
    """Base class of every error brandflow raises on purpose."""


class SpecError(BrandflowError):
    """A campaign or brand-kit file is invalid.

    Attributes:
        path: the YAML file.
        field: dotted field path (``formats.0.width``) or a ``line N`` location, or ``None``.
        reason: what is wrong.
        fix: what to do about it.
    """

    def __init__(self, path: Path | str, field: str | None, reason: str, fix: str, count: int = 1):
        self.path, self.field, self.reason, self.fix = Path(path), field, reason, fix
        where = f"{self.path}" + (f": {field}" if field else "")
        more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
        super().__init__(f"{where}: {reason}{more}. Fix: {fix}")


class TemplateError(BrandflowError):
    """A prompt or overlay template failed to render for one product (names template, line and product)."""


class ImageError(BrandflowError):
    """An image cannot be read or used (corrupt, too large, unsupported mode); names the file."""


class MissingDependencyError(BrandflowError, ImportError):
    """An optional dependency is not installed; the message gives the install command."""


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 60.0) -> str:
    """``" (did you mean 'x'?)"`` for the choice nearest to ``name``, or ``""`` when none is near.

    Nearness is rapidfuzz's normalised Indel similarity (``fuzz.ratio``, 0–100), case-insensitive;
    ``cutoff`` 60 accepts one or two typos in a short name (``compositer`` → ``compositor``: 90,
    ``txt`` → ``text``: 86) and rejects unrelated names.
    """
    from rapidfuzz import fuzz, process, utils

    match = process.extractOne(str(name), list(choices), scorer=fuzz.ratio, processor=utils.default_process, score_cutoff=cutoff)
    return f" (did you mean {match[0]!r}?)" if match else ""
