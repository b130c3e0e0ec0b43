"""Validating a backend's ``generator.options``: one error type and one message format for every backend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from brandflow.registry import PluginOptionsError, options_error

M = TypeVar("M", bound=BaseModel)


class GeneratorOptionsError(PluginOptionsError):
    """``generator.options`` of a campaign is invalid; names ``generator.options.<field>`` and the fix.

    Built from ``(field, reason, fix)`` or from one message ``"generator.options.<field>: reason. Fix: fix"``.
    """

    def __init__(self, field: str, reason: str | None = None, fix: str | None = None):
        if reason is None:
            head, _, fix = field.partition(". Fix: ")
            name, sep, reason = head.partition(": ")
            field, reason = (name, reason) if sep and " " not in name else ("generator.options", head)
        super().__init__(field, reason, fix or "see the backend's documentation")


def validate_options(model: type[M], options: Mapping[str, Any], backend: str, docs: str) -> M:
    """``options`` validated as ``model``; every problem is listed as ``generator.options.<field>: … Fix: …``,
    an unknown key with the nearest valid one.

    Raises:
        GeneratorOptionsError: an unknown key or a bad value (all of them, in one message).
    """
    try:
        return model.model_validate(dict(options))
    except ValidationError as e:
        err = options_error(e, model, "generator.options")
        fix = err.fix.replace("see the plugin's documentation", f"see {docs}")
        raise GeneratorOptionsError(err.field, f"{err.reason} (backend {backend!r})", fix) from None
