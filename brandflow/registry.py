"""One plugin registry for generators, QA checks and publishers.

Backends are found through Python entry-point groups (``brandflow.generators``,
``brandflow.checks``, ``brandflow.publishers``, and ``brandflow.feeds`` for feeds regenerated once per run from
the published creatives, such as the Merchant Center supplemental feed). brandflow's built-ins are declared in its own
``pyproject.toml`` under the same groups, so a third-party package adds a backend exactly the way
the built-ins do, without forking. ``register()`` adds one at run time (tests, notebooks).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from brandflow.errors import BrandflowError

GROUPS = {"generator": "brandflow.generators", "check": "brandflow.checks", "publisher": "brandflow.publishers",
          "feed": "brandflow.feeds"}
_runtime: dict[str, dict[str, Any]] = {kind: {} for kind in GROUPS}


class UnknownPluginError(BrandflowError, KeyError):
    """No plugin of that kind and name is installed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def register(kind: str, name: str, obj: Any) -> None:
    """Register ``obj`` (a class or factory) as plugin ``name`` of ``kind`` for this process."""
    _runtime[kind][name] = obj


def available(kind: str) -> list[str]:
    """Names of every installed plugin of ``kind`` ('generator' | 'check' | 'publisher')."""
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])} | set(_runtime[kind]))


def load(kind: str, name: str) -> Any:
    """The plugin class/factory ``name`` of ``kind``.

    Raises:
        UnknownPluginError: not installed; the message lists what is.
    """
    if name in _runtime[kind]:
        return _runtime[kind][name]
    for ep in entry_points(group=GROUPS[kind], name=name):
        return ep.load()
    raise UnknownPluginError(
        f"no {kind} named {name!r}; installed: {', '.join(available(kind)) or 'none'} "
        f"(a plugin registers under the entry-point group {GROUPS[kind]!r}; is brandflow installed with `pip install -e .`?)"
    )
