"""Time and memory limits for rendering untrusted templates.

Jinja's sandbox stops templates from reaching Python internals, but not from burning CPU and memory:
nested ``range(100000)`` loops run 10¹⁰ steps, ``10 ** (10 ** 10)`` builds a ten-billion-digit integer,
``'x' * 10 ** 9`` a gigabyte string and ``lipsum(1000000)`` took a minute and 1.7 GB. :class:`LimitedSandbox`
closes each of these, and :func:`render_limited` enforces a wall-clock deadline and an output cap:

- every ``range()`` and every loop step drawn from it counts against :data:`MAX_STEPS` per render, and
  checks the deadline (:data:`MAX_SECONDS`);
- ``**`` refuses exponents over :data:`MAX_EXPONENT` and ``*`` refuses to repeat a string or list past
  :data:`MAX_OUTPUT` characters (both are intercepted binary operators of Jinja's sandbox, so they are
  never folded at compile time either);
- ``lipsum`` is capped at :data:`MAX_LIPSUM` paragraphs;
- the output is consumed chunk by chunk and cut off at :data:`MAX_OUTPUT` characters or the deadline.

Limits are per render call (a prompt for one product, one overlay slot); a template that hits one gets a
:class:`TemplateLimitError` naming the limit, and its product is rejected like any broken template.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

from jinja2 import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import generate_lorem_ipsum

#: Loop steps from ``range()`` per render (a real prompt template takes a few dozen).
MAX_STEPS = 100_000
#: Wall-clock seconds per render (a real prompt renders in about a millisecond).
MAX_SECONDS = 2.0
#: Characters of output per render, and of any string or list built with ``*`` (a prompt is a few KB).
MAX_OUTPUT = 1_000_000
#: Largest exponent of ``**``.
MAX_EXPONENT = 64
#: Paragraphs ``lipsum()`` may produce.
MAX_LIPSUM = 20


class TemplateLimitError(SecurityError):
    """A template went over a render limit (steps, seconds, output size, exponent); the message names it."""


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"the template ran over {MAX_STEPS:,} loop steps (render limit)")
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(f"the template ran over {MAX_SECONDS:g} s (render limit)")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("brandflow_template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    return budget if budget is not None else _Budget()  # outside render_limited: each range() bounded alone


def _range(*args: int):  # noqa: ANN202 - a generator like range
    r = range(*args)
    budget = _current()
    if len(r) > MAX_STEPS:
        raise TemplateLimitError(f"range() of {len(r):,} items is over the render limit of {MAX_STEPS:,} steps")
    for item in r:
        budget.step()
        yield item


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002 - Jinja's signature
    if n > MAX_LIPSUM or max > 1000:
        raise TemplateLimitError(f"lipsum({n}) is over the render limit of {MAX_LIPSUM} paragraphs")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the limits of this module (``range``, ``lipsum``, ``**``, ``*``)."""

    intercepted_binops = frozenset(["**", "*"])

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.globals["range"] = _range
        self.globals["lipsum"] = _lipsum

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:  # noqa: ANN001 - Jinja's signature
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise TemplateLimitError(f"an exponent of {right} is over the render limit of {MAX_EXPONENT}")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT:
                    raise TemplateLimitError(f"repeating a value {n:,} times is over the render limit of {MAX_OUTPUT:,} characters")
        return super().call_binop(context, operator, left, right)


def render_limited(template: Template, context: dict[str, Any]) -> str:
    """``template.render(context)`` within this module's limits.

    Raises:
        TemplateLimitError: over :data:`MAX_STEPS`, :data:`MAX_SECONDS` or :data:`MAX_OUTPUT`.
        Exception: whatever the template itself raises (undefined names, sandbox violations …).
    """
    budget = _Budget()
    token = _budget.set(budget)
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(f"the template wrote over {MAX_OUTPUT:,} characters (render limit)")
            budget.step(0)
            parts.append(chunk)
        return "".join(parts)
    finally:
        _budget.reset(token)
