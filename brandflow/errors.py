"""brandflow's domain errors: each names where the problem is and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
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


class FieldValueError(ValueError):
    """A check inside a model validator that knows the YAML field at fault and the fix; the loader reports
    ``field``, ``reason`` and ``fix`` as they are (a plain ``ValueError`` there only knows the enclosing model)."""

    def __init__(self, field: str, reason: str, fix: str):
        self.field, self.reason, self.fix = field, reason, fix
        super().__init__(f"{field}: {reason}. Fix: {fix}")


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


#: The fix to suggest for a pydantic error type, shared by the campaign spec and every plugin's options.
VALIDATION_FIXES = {
    "missing": "add this field",
    "string_pattern_mismatch": "use lowercase letters, digits, '-' or '_'",
    "literal_error": "use one of the listed values",
    "int_parsing": "use a whole number",
    "int_from_float": "use a whole number",
    "float_parsing": "use a number",
    "bool_parsing": "use true or false",
    "greater_than": "use a value in the allowed range",
    "greater_than_equal": "use a value in the allowed range",
    "less_than": "use a value in the allowed range",
    "less_than_equal": "use a value in the allowed range",
}


def fields_at(model: Any, loc: Iterable[Any]) -> list[str]:
    """The sorted field names of the pydantic model nested at ``loc`` (a validation error's location, list
    indices skipped) inside ``model``, for "did you mean" errors; ``[]`` where ``loc`` leaves the models."""
    from pydantic import BaseModel

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if field is None:
            return []
        args = [a for a in getattr(field.annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = args[0] if args else field.annotation
    return sorted(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []
