"""Structured prompts and overlay text from Jinja2 templates, rendered in a sandbox.

Product data is untrusted text, so templates render in Jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (a ``SandboxedEnvironment`` that also forbids
mutating lists and dicts) with :class:`~jinja2.StrictUndefined`:

* ``{{ ''.__class__.__mro__ }}`` and every other underscore/internal attribute is refused
  (``SecurityError``) — the render fails, nothing is printed.
* A missing variable or key is an error naming the template, line and product id — never an empty
  string in a prompt.
* The context is plain data (dicts, lists, strings, numbers; see :func:`prompt_context`), not the
  pydantic models, so a template cannot call model methods.

Prompt templates (``*.json.j2``) render JSON. Autoescaping is off, and **every** ``{{ … }}`` in a
prompt template must print either a number or the output of the ``tojson`` filter
(``{{ product.title | tojson }}``); printing a raw string is a :class:`TemplateError` at the first
render, for every product, so a quote or backslash in product data can never break or inject JSON.
Compose text with ``~`` in expressions or ``{% set %}``::

    {%- set bg = "seamless backdrop in " ~ brand.primary.hex ~ " (brand primary, " ~ brand.primary.name ~ ")" %}
    "background": {{ bg | tojson }},

Overlay strings (``overlay.headline`` …) are plain text and print values as they are.
"""

from __future__ import annotations

import json
import re
import traceback
from decimal import Decimal
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from pydantic import BaseModel, ValidationError

from brandflow.errors import TemplateError
from brandflow.prompts.limits import LimitedSandbox, render_limited
from brandflow.records import Product, StructuredPrompt
from brandflow.locales import format_price
from brandflow.spec import BrandKit, CampaignSpec, OverlaySpec

#: Folder of the built-in prompt templates (``NAME.json.j2``).
BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_SUFFIX = ".json.j2"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------- JSON output guard
class JSONText(str):
    """A string that is already valid JSON (what the ``tojson`` filter returns)."""


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def tojson(value: Any) -> JSONText:
    """Jinja filter: ``value`` as a JSON literal (strings quoted and escaped; non-ASCII kept)."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable
    return JSONText(json.dumps(value, ensure_ascii=False, default=_json_default))


class RawOutputError(TypeError):
    """A prompt template printed a value that is not JSON (a raw string, None, a bool …)."""


def _json_finalize(value: Any) -> Any:
    """Every ``{{ … }}`` of a prompt template passes through here."""
    if isinstance(value, Undefined):
        str(value)  # raises UndefinedError / SecurityError (StrictUndefined)
    if isinstance(value, JSONText):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise RawOutputError(
        f"printed {type(value).__name__} {shown} without '| tojson'; "
        "every value inserted into the JSON must go through the tojson filter"
    )


class _StrictUndefined(StrictUndefined):
    """StrictUndefined whose message lists the keys that *do* exist when a dict lookup misses."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        obj = self._undefined_obj
        if self._undefined_hint is None and isinstance(obj, dict) and self._undefined_name is not None:
            return f"no key {self._undefined_name!r} here; available: {', '.join(sorted(map(str, obj)))}"
        return super()._undefined_message


def _common(env: ImmutableSandboxedEnvironment) -> ImmutableSandboxedEnvironment:
    env.filters["tojson"] = tojson
    return env


@lru_cache(maxsize=32)
def _prompt_env(search: tuple[str, ...]) -> ImmutableSandboxedEnvironment:
    return _common(LimitedSandbox(
        loader=FileSystemLoader(list(search)),
        undefined=_StrictUndefined,
        autoescape=False,
        finalize=_json_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    ))


_OVERLAY_ENV = _common(LimitedSandbox(undefined=_StrictUndefined, autoescape=False))


# --------------------------------------------------------------------------- context
def _money(product: Product, locale: str | None = None) -> dict[str, str] | None:
    if product.price is None:
        return None
    display = format_price(product.price.amount, product.price.currency, locale) if locale else product.price.display
    return {"amount": str(product.price.amount), "currency": product.price.currency, "display": display}


def product_context(product: Product, locale: str | None = None) -> dict[str, Any]:
    """The ``product`` variable of templates: plain data derived from a :class:`Product`.

    Keys: ``id, title, description, product_type`` (str); ``categories`` (``product_type`` split on
    ``>``, e.g. ``['Apparel', 'Sneakers']``); ``category`` (the last one, or ``''``); ``price``
    (``None`` or ``{amount: '10.00', currency: 'USD', display: '$10.00'}``; with a ``locale``, ``display`` is
    written as that market writes prices, CLDR via Babel: ``'10,00 $'`` for de-DE); ``images`` (file names,
    primary first); ``image_count`` (int); ``row`` (int).
    """
    cats = [c.strip() for c in product.product_type.split(">") if c.strip()]
    return {
        "id": product.id,
        "title": product.title,
        "description": product.description,
        "product_type": product.product_type,
        "categories": cats,
        "category": cats[-1] if cats else "",
        "price": _money(product, locale),
        "images": [p.name for p in product.images],
        "image_count": len(product.images),
        "row": product.row,
    }


def brand_context(brand: BrandKit) -> dict[str, Any]:
    """The ``brand`` variable: ``name, tone, forbidden_words``; ``palette`` (distinct hexes, primary
    first — a hex used by two roles appears once);
    ``colour_list`` (``[{name, hex, role}]``); ``colours`` (role → ``{name, hex}``, first colour of
    each role); and each present role directly (``brand.primary.hex``). A role the kit lacks is
    undefined — test it with ``brand.colours.accent is defined``.
    """
    by_role: dict[str, dict[str, str]] = {}
    for c in brand.colours:
        by_role.setdefault(c.role, {"name": c.name, "hex": c.hex})
    return {
        "name": brand.name,
        "tone": brand.tone,
        "forbidden_words": list(brand.forbidden_words),
        "palette": list(dict.fromkeys(brand.palette)),
        "colour_list": [{"name": c.name, "hex": c.hex, "role": c.role} for c in brand.colours],
        "colours": by_role,
        **by_role,
    }


def campaign_context(campaign: CampaignSpec) -> dict[str, Any]:
    """The ``campaign`` variable: ``name, slug, template`` (str), ``variants`` (int), ``formats``
    (``[{name, width, height}]``)."""
    return {
        "name": campaign.name,
        "slug": campaign.slug,
        "template": campaign.template,
        "locale": campaign.locale or "",
        "variants": campaign.variants,
        "formats": [{"name": f.name, "width": f.width, "height": f.height} for f in campaign.formats],
    }


def prompt_context(product: Product, brand: BrandKit, campaign: CampaignSpec, variant: int) -> dict[str, Any]:
    """All template variables: ``product``, ``brand``, ``campaign`` (see the ``*_context`` functions),
    ``strings`` (the market's fixed texts, name → str: ``campaign.strings`` with the market's own over them)
    and ``variant`` (int, 0-based)."""
    return {
        "product": product_context(product, campaign.locale),
        "brand": brand_context(brand),
        "campaign": campaign_context(campaign),
        "strings": dict(campaign.strings),
        "variant": variant,
    }


# --------------------------------------------------------------------------- errors
def _location(exc: BaseException, default_file: str) -> tuple[str, int | None]:
    """(template file, line) where a Jinja error happened: from a syntax error, or the deepest
    template frame of the traceback (Jinja rewrites tracebacks so template frames carry template lines)."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.filename or exc.name or default_file, exc.lineno
    found: tuple[str, int | None] = (default_file, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        fn = frame.f_code.co_filename
        if fn.endswith(".j2") or fn == "<template>" or fn == default_file:
            found = (fn, lineno)
    return found


def _error(template: str, line: int | None, product_id: str, message: str, field: str | None = None) -> TemplateError:
    where = f"{template}" + (f", line {line}" if line else "")
    err = TemplateError(f"{where}: {message} (product {product_id!r})")
    err.template, err.line, err.product_id, err.field = template, line, product_id, field  # type: ignore[attr-defined]
    return err


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {exc}"
    if isinstance(exc, TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    name = type(exc).__name__
    return f"{exc}" if name in ("UndefinedError", "RawOutputError") else f"{name}: {exc}"


# --------------------------------------------------------------------------- prompts
def resolve_template(template: str, base_dir: Path | None = None) -> Path:
    """Find a prompt template file.

    Args:
        template: a built-in name (``'studio'`` → ``templates/prompts/studio.json.j2``) or a path to
            a ``.json.j2`` file.
        base_dir: folder that a relative path is relative to (e.g. the campaign YAML's folder);
            default: the working directory.

    Returns:
        The absolute path of the template file.

    Raises:
        TemplateError: no such built-in or file (lists the built-ins).
    """
    if _NAME_RE.match(template):
        path = BUILTIN_DIR / f"{template}{TEMPLATE_SUFFIX}"
    else:
        path = Path(template)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
    if not path.is_file():
        builtins = sorted(p.name.removesuffix(TEMPLATE_SUFFIX) for p in BUILTIN_DIR.glob(f"*{TEMPLATE_SUFFIX}"))
        raise TemplateError(
            f"prompt template {template!r} not found ({path}); use a built-in ({', '.join(builtins)}) "
            f"or a path to a {TEMPLATE_SUFFIX} file"
        )
    return path.resolve()


def render_prompt(
    template: str,
    product: Product,
    brand: BrandKit,
    campaign: CampaignSpec,
    variant: int,
    *,
    base_dir: Path | None = None,
) -> StructuredPrompt:
    """Render a prompt template for one product and validate it as a FLUX.2 structured prompt.

    Args:
        template: built-in name (``'studio'``, ``'lifestyle'``) or path to a ``.json.j2`` file
            (a relative path is resolved against ``base_dir``). The loader searches the template's own
            folder first, then the built-in folder, so ``{% include %}``/``{% extends %}`` see both.
        product: the product (untrusted text: rendered in the sandbox).
        brand: the brand kit.
        campaign: the campaign spec.
        variant: 0-based variant index; built-in templates vary camera/composition by it.
        base_dir: folder for a relative ``template`` path; default the working directory.

    Returns:
        The validated :class:`StructuredPrompt`.

    Raises:
        TemplateError: template not found, syntax error, undefined variable, sandbox violation, a raw
            (non-``tojson``) value printed, any other render exception, output that is not JSON, or JSON
            that does not validate as ``StructuredPrompt``. The message names the template file, the
            line (template line; for JSON errors, the line of the rendered output) and the product id;
            the exception has ``template``, ``line``, ``product_id`` and ``field`` attributes.
    """
    path = resolve_template(template, base_dir)
    env = _prompt_env(tuple(dict.fromkeys([str(path.parent), str(BUILTIN_DIR)])))
    try:
        tmpl = env.get_template(path.name)
        text = render_limited(tmpl, prompt_context(product, brand, campaign, variant))
    except TemplateNotFound as e:  # an {% include %} of a missing file
        raise _error(str(path), None, product.id, f"included template {e.name!r} not found") from None
    except (RecursionError, MemoryError) as e:
        raise _error(str(path), None, product.id, f"{type(e).__name__} while rendering") from None
    except Exception as e:  # noqa: BLE001 — any failure inside a template is the template's fault
        file, line = _location(e, str(path))
        raise _error(file, line, product.id, _describe(e)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        lines = text.splitlines()
        snippet = lines[e.lineno - 1].strip()[:120] if 0 < e.lineno <= len(lines) else ""
        raise _error(str(path), None, product.id,
                     f"rendered text is not valid JSON: {e.msg} at output line {e.lineno}, column {e.colno}: {snippet!r}") from None
    try:
        return StructuredPrompt.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        fld = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        raise _error(str(path), None, product.id, f"rendered JSON is not a StructuredPrompt: {fld}: {msg}", field=fld) from None


# --------------------------------------------------------------------------- overlays
OVERLAY_SLOTS = ("headline", "price", "cta")
#: Slots rendered only when the campaign sets them (absent otherwise, so existing jobs' overlays stay as they were).
OPTIONAL_SLOTS = ("legal",)


@lru_cache(maxsize=256)
def _overlay_template(source: str):  # noqa: ANN202
    return _OVERLAY_ENV.from_string(source)


def render_overlay(overlay: OverlaySpec, product: Product, campaign: CampaignSpec) -> dict[str, str]:
    """Render the exact overlay strings (headline, price, CTA) for one product.

    Args:
        overlay: the campaign's overlay spec; ``headline``, ``price`` and ``cta`` are Jinja strings
            over ``product``, ``campaign`` and ``strings`` (same variables as prompt templates, see
            :func:`prompt_context`), e.g. ``"{{ product.title }}"``, ``"{{ strings.cta }}"``.
        product: the product.
        campaign: the campaign spec as planned for one market (its ``locale`` and ``strings`` are that market's).

    Returns:
        ``{'headline': str, 'price': str, 'cta': str}`` plus ``'legal'`` when ``overlay.legal`` is set, each
        stripped of surrounding whitespace; ``''`` means draw nothing in that slot.

    Raises:
        TemplateError: syntax error, undefined variable, sandbox violation or any render exception;
            names the field (``'overlay.headline'``), the line and the product id.
    """
    ctx = {"product": product_context(product, campaign.locale), "campaign": campaign_context(campaign), "strings": dict(campaign.strings)}
    out: dict[str, str] = {}
    for slot in OVERLAY_SLOTS + tuple(s for s in OPTIONAL_SLOTS if getattr(overlay, s)):
        source = getattr(overlay, slot)
        field = f"overlay.{slot}"
        try:
            out[slot] = render_limited(_overlay_template(source), ctx).strip()
        except (RecursionError, MemoryError) as e:
            raise _error(field, None, product.id, f"{type(e).__name__} while rendering", field=field) from None
        except Exception as e:  # noqa: BLE001
            _, line = _location(e, "<template>")
            raise _error(field, line, product.id, f"{_describe(e)} in {source!r}", field=field) from None
    return out
