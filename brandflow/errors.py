"""brandflow's domain errors: each names where the problem is and how to fix it."""

from __future__ import annotations

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
