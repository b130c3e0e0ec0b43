"""Validating a backend's ``generator.options``: one error type and one message format for every backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from brandflow.errors import BrandflowError

M = TypeVar("M", bound=BaseModel)


class GeneratorOptionsError(BrandflowError, ValueError):
    """``generator.options`` of a campaign is invalid; the message names ``generator.options.<field>`` and the fix."""


def _fix(err: dict[str, Any], model: type[BaseModel], docs: str) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"remove it, or use one of: {', '.join(sorted(model.model_fields))}"
    if kind == "literal_error":
        return "use one of the listed values"
    if kind.startswith(("greater_than", "less_than")):
        return "use a value in the allowed range"
    if kind in ("int_parsing", "int_from_float"):
        return "use a whole number"
    if kind == "float_parsing":
        return "use a number"
    if kind == "bool_parsing":
        return "use true or false"
    return f"see {docs}"


def validate_options(model: type[M], options: Mapping[str, Any], backend: str, docs: str) -> M:
    """``options`` validated as ``model``; every problem is listed as ``generator.options.<field>: … Fix: …``.

    Raises:
        GeneratorOptionsError: an unknown key or a bad value (all of them, in one message).
    """
    try:
        return model.model_validate(dict(options))
    except ValidationError as e:
        problems = []
        for err in e.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(options)"
            msg = err["msg"].removeprefix("Value error, ")
            got = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err.get("input"), dict) else ""
            problems.append(f"generator.options.{field}: {msg}{got}. Fix: {_fix(err, model, docs)}")
        raise GeneratorOptionsError(f"invalid options for backend {backend!r}: " + "; ".join(problems)) from None
