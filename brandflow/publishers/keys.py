"""Object keys from a template, sanitised so untrusted product ids can never escape the target."""

from __future__ import annotations

import re
import string

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FIELDS = ("campaign", "product_id", "format", "variant", "ext", "seed", "job")


def sanitise_segment(value: object) -> str:
    """One path segment: only ``[A-Za-z0-9._-]``, other runs become ``-``; no leading dots, never empty.

    ``'../etc/passwd'`` → ``'etc-passwd'``; ``'a/b'`` → ``'a-b'``; ``'..'`` → ``'_'``.
    """
    s = _UNSAFE.sub("-", str(value)).lstrip(".-").rstrip("-")
    return s[:120] or "_"


def render_key(template: str, **values: object) -> str:
    """Fill ``template`` (``str.format`` fields from :data:`FIELDS`) with sanitised values.

    The template's own ``/`` separate folders; a value can never add one, nor ``..``.

    Raises:
        ValueError: the template names an unknown field, or yields an absolute or empty key.
    """
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    unknown = names - set(FIELDS)
    if unknown:
        raise ValueError(f"publish.key_template: unknown field(s) {sorted(unknown)}; use {', '.join(FIELDS)}")
    key = template.format(**{k: sanitise_segment(v) for k, v in values.items() if k in names})
    parts = [p for p in key.split("/") if p]
    if not parts or key.startswith("/") or any(p in (".", "..") for p in parts):
        raise ValueError(f"publish.key_template {template!r} gives an unsafe key {key!r}")
    return "/".join(parts)
