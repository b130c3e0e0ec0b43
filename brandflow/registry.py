"""One plugin registry and one plugin contract for generators, QA checks and publishers.

Plugins are found through Python entry-point groups (``brandflow.generators``, ``brandflow.checks``,
``brandflow.publishers``, and ``brandflow.feeds`` for feeds regenerated once per run from the published
creatives, such as the Merchant Center supplemental feed). brandflow's built-ins are declared in its own
``pyproject.toml`` under the same groups, so a third-party package adds a backend exactly the way the built-ins
do, without forking. ``register()`` adds one at run time (tests, notebooks).

The contract (in the manner of ``llm``'s plugins and diffusers' components): a plugin is a class that
declares

- ``Options``: a pydantic model (``extra="forbid"``) of its YAML settings. They live under the plugin's own key
  — ``generator.options`` for the backend, ``qa.<check name>`` for a check, ``publish.<publisher name>`` for a
  publisher — and are validated by that model when the campaign is loaded (``brandflow validate``), with
  "did you mean" suggestions for misspelt names and keys. A plugin without ``Options`` takes no settings.
- for generators, its capabilities and its price (:mod:`brandflow.generators.base`).

The core never names a backend, a check or a publisher: everything it knows about one comes from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from brandflow.errors import VALIDATION_FIXES, BrandflowError, did_you_mean, fields_at

GROUPS = {"generator": "brandflow.generators", "check": "brandflow.checks", "publisher": "brandflow.publishers",
          "feed": "brandflow.feeds"}
_runtime: dict[str, dict[str, Any]] = {kind: {} for kind in GROUPS}


class UnknownPluginError(BrandflowError, KeyError):
    """No plugin of that kind and name is installed; the message suggests the nearest installed name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class PluginOptionsError(BrandflowError, ValueError):
    """A plugin's YAML settings are invalid.

    Attributes:
        field: dotted YAML path of the first problem (``qa.text.min_ned``, ``generator.options.scale``).
        reason: what is wrong (all problems, ``;``-separated).
        fix: what to do about it.
    """

    def __init__(self, field: str, reason: str, fix: str):
        self.field, self.reason, self.fix = field, reason, fix
        super().__init__(f"{field}: {reason}. Fix: {fix}")


class PluginOptions(BaseModel):
    """Base of a plugin's ``Options``: unknown keys are errors (a typo is never silently ignored), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(PluginOptions):
    """The settings of a plugin that declares none: any key is an error."""


def register(kind: str, name: str, obj: Any) -> None:
    """Register ``obj`` (a plugin class or factory) as plugin ``name`` of ``kind`` for this process."""
    _runtime[kind][name] = obj


def available(kind: str) -> list[str]:
    """Names of every installed plugin of ``kind`` ('generator' | 'check' | 'publisher')."""
    return sorted({ep.name for ep in entry_points(group=GROUPS[kind])} | set(_runtime[kind]))


_loaded: dict[tuple[str, str], Any] = {}


def _entry_point(kind: str, name: str) -> Any:
    """The object entry point ``name`` of ``kind`` points at (loaded once; a miss is not remembered, so a package
    installed later in the process is found)."""
    if (kind, name) not in _loaded:
        found = list(entry_points(group=GROUPS[kind], name=name))
        if not found and kind == "publisher":  # registered only per transport (``wagtail+https``): the same plugin
            found = [ep for ep in entry_points(group=GROUPS[kind]) if ep.name.startswith(name + "+")]
        if not found:
            return None
        _loaded[kind, name] = found[0].load()
    return _loaded[kind, name]


def load(kind: str, name: str) -> Any:
    """The plugin class/factory ``name`` of ``kind``.

    Raises:
        UnknownPluginError: not installed; the message suggests the nearest installed name and lists them all.
    """
    if name in _runtime[kind]:
        return _runtime[kind][name]
    found = _entry_point(kind, name)
    if found is not None:
        return found
    names = available(kind)
    raise UnknownPluginError(
        f"no {kind} named {name!r}{did_you_mean(name, names)}; installed: {', '.join(names) or 'none'} "
        f"(a plugin registers under the entry-point group {GROUPS[kind]!r}; is brandflow installed with `pip install -e .`?)"
    )


def publisher_name(uri_scheme: str) -> str:
    """The publisher plugin that serves a target URI scheme: ``s3`` → ``s3``, ``wagtail+https`` → ``wagtail``
    (``name+transport``, as SQLAlchemy's ``dialect+driver``); an exact registration of the full scheme wins."""
    if uri_scheme in _runtime["publisher"] or _entry_point("publisher", uri_scheme) is not None:
        return uri_scheme
    return uri_scheme.split("+", 1)[0]


def options_model(kind: str, name: str) -> type[BaseModel]:
    """The ``Options`` model plugin ``name`` of ``kind`` declares (:class:`NoOptions` when it declares none).

    Raises:
        UnknownPluginError: no such plugin.
    """
    model = getattr(load(kind, name), "Options", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else NoOptions


def validate_options(kind: str, name: str, data: Mapping[str, Any] | BaseModel | None, where: str) -> BaseModel:
    """``data`` validated by the ``Options`` model of plugin ``name`` of ``kind``.

    Args:
        kind: 'generator' | 'check' | 'publisher'.
        name: the plugin name.
        data: the YAML mapping under the plugin's key (``None`` → defaults), or an already validated model.
        where: the YAML path of that key, for messages (``qa.text``, ``publish.s3``, ``generator.options``).

    Returns:
        The validated (frozen) options model.

    Raises:
        UnknownPluginError: no such plugin.
        PluginOptionsError: unknown keys (with the nearest valid key) or bad values; names ``<where>.<field>``.
    """
    model = options_model(kind, name)
    if isinstance(data, model):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump(exclude_unset=True)
    if data is not None and not isinstance(data, Mapping):
        raise PluginOptionsError(where, f"expected a mapping of {kind} {name!r} settings, got {type(data).__name__}",
                                 f"write key: value lines under {where}, or remove it")
    try:
        return model.model_validate(dict(data or {}))
    except ValidationError as e:
        raise options_error(e, model, where) from None


def validate_generator_options(backend: str, options: Mapping[str, Any]) -> Any:
    """``generator.options`` validated by ``backend``'s own ``parse_options`` (its ``Options`` model plus any check
    across fields); the campaign loader calls this.

    Raises:
        PluginOptionsError: an unknown backend (field ``generator.backend``, with the nearest name) or bad options.
    """
    try:
        cls = load("generator", backend)
    except UnknownPluginError as e:
        raise PluginOptionsError("generator.backend", str(e).split("; installed:")[0],
                                 f"use one of: {', '.join(available('generator'))}") from None
    parse = getattr(cls, "parse_options", None)
    return parse(options) if parse is not None else validate_options("generator", backend, options, "generator.options")


def options_error(e: ValidationError, model: type[BaseModel], where: str) -> PluginOptionsError:
    """One :class:`PluginOptionsError` for every problem of ``e`` (a validation of ``model`` under ``where``)."""
    problems, fixes = [], []
    for err in e.errors():
        field = ".".join([where, *(str(p) for p in err["loc"])])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            allowed = fields_at(model, err["loc"][:-1])
            problems.append(f"{field}: unknown key{did_you_mean(key, allowed)}")
            fixes.append(f"remove it or use one of: {', '.join(allowed) or 'none (this plugin takes no settings)'}")
            continue
        got = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err.get("input"), dict) else ""
        problems.append(f"{field}: {msg}{got}")
        fixes.append(VALIDATION_FIXES.get(err["type"], "see the plugin's documentation"))
    first = ".".join([where, *(str(p) for p in e.errors()[0]["loc"])])
    reason = "; ".join(p.removeprefix(first + ": ") if i == 0 else p for i, p in enumerate(problems))
    return PluginOptionsError(first, reason, "; ".join(dict.fromkeys(fixes)))
