"""Redaction of secrets from text bound for the audit record, reports, logs and artifacts.

An API may echo request headers into an error body, a presigned URL carries the access key id and a
signature, an exception may quote a URL with ``user:password@``. :func:`redact` removes all of these, and
any literal value of a secret-holding environment variable on this worker, before text is recorded.
"""

from __future__ import annotations

import os
import re

MASK = "[redacted]"

#: Header or field names whose value is a secret (``x-key: …``, ``"Authorization": "Bearer …"``, ``token=…``).
_NAMED = re.compile(
    r"""(?P<name>["']?\b(?:authorization|proxy-authorization|x-key|x-api-key|api[-_]?key|access[-_]?token|client[-_]?secret|password|"""
    r"""x-amz-security-token|aws_secret_access_key|aws_session_token|cookie|set-cookie)\b["']?\s*[:=]\s*["']?)"""
    r"""(?:(?:bearer|token|basic)\s+)?[^\s"',;}&]+""",
    re.IGNORECASE,
)
#: Query parameters of signed URLs (S3 SigV4/SigV2, generic ``key=``/``sig=``).
_QUERY = re.compile(
    r"(?P<name>[?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|AWSAccessKeyId|key|api_key|token|sig|se|sv)=)[^&\s\"'#<>]+",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(?P<name>\b[a-z][a-z0-9+.-]*://)[^/\s@:]+:[^/\s@]+@", re.IGNORECASE)
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
#: Environment variables whose values are secrets (their literal values are masked wherever they appear).
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_NOT_SECRET_ENV = {"AWS_ACCESS_KEY_ID"}  # still masked: its pattern is matched by _AWS_KEY_ID as well


def secret_values() -> list[str]:
    """The literal values :func:`redact` masks, from this process's environment now, longest first."""
    values = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}
    values |= {os.environ[k] for k in _NOT_SECRET_ENV if len(os.environ.get(k, "")) >= 8}
    return sorted(values, key=len, reverse=True)


def redact(text: str | None, secrets: list[str] | None = None) -> str | None:
    """``text`` with secrets replaced by ``[redacted]``: values of secret-named headers and fields, signed
    URL query parameters, ``user:password@`` in URLs, AWS access key ids, and the literal value of every
    environment variable whose name contains KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL (8+ characters).
    ``None`` stays ``None``. ``secrets``: those values as :func:`secret_values` returned them, to redact many
    texts with one reading of the environment (it costs more than the patterns: ~0.1 ms)."""
    if not text:
        return text
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    text = _USERINFO.sub(lambda m: m.group("name") + MASK + "@", text)
    text = _QUERY.sub(lambda m: m.group("name") + MASK, text)
    text = _NAMED.sub(lambda m: m.group("name") + MASK, text)
    return _AWS_KEY_ID.sub(MASK, text)


def strip_signature(url: str | None) -> str | None:
    """A link fit for the audit record: a URL whose query carries a signature or credential (a presigned
    S3 URL) is dropped (``None``), since it names the access key id and stays valid until it expires; other
    URLs are returned unchanged."""
    if url and _QUERY.search(url):
        return None
    return url


class RedactingFilter:
    """A :mod:`logging` filter that redacts each record's message and traceback text (see :func:`redact`)."""

    def filter(self, record) -> bool:  # noqa: ANN001 - logging.LogRecord
        import traceback

        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 — a bad format string is logging's problem, not ours
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text, record.exc_info = redact(text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Add the redacting filter to every handler of the root, ``prefect`` and ``brandflow`` loggers (and their
    children that have handlers), once; run logs then never carry a key echoed in an error."""
    import logging

    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
