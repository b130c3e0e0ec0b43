"""Object keys from a template, made injective so untrusted product ids can neither escape the target nor
share a key: every value goes through :func:`brandflow.safenames.safe_segment`."""

from __future__ import annotations

from brandflow.safenames import safe_segment
from brandflow.spec import KEY_FIELDS, check_key_template

FIELDS = KEY_FIELDS


def sanitise_segment(value: object) -> str:
    """One path segment, injective over all values (:func:`brandflow.safenames.safe_segment`).

    ``'apple-juice'`` → ``'apple-juice'``; ``'a/b'`` → ``'a-b~<16 hex>'``; ``'..'`` → ``'~<16 hex>'``.
    """
    return safe_segment(value)


def render_key(template: str, **values: object) -> str:
    """Fill ``template`` (``str.format`` fields from :data:`FIELDS`) with injective, safe segments.

    The template's own ``/`` separate folders; a value can never add one, nor ``..``.

    Raises:
        ValueError: the template names an unknown field, has a ``..`` or ``.`` segment, is absolute, or
            yields an empty key.
    """
    check_key_template(template)
    names = {n for n in KEY_FIELDS if "{" + n in template}
    key = template.format(**{k: sanitise_segment(v) for k, v in values.items() if k in names})
    parts = [p for p in key.split("/") if p]
    if not parts or key.startswith("/") or any(p in (".", "..") for p in parts):
        raise ValueError(f"publish.key_template {template!r} gives an unsafe key {key!r}")
    return "/".join(parts)
