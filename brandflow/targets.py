"""Where a secret may go: hosts bound by the operator, never chosen by a campaign file or a flow-run parameter.

A campaign file comes from a colleague and a flow-run parameter from whoever can reach the Prefect API;
neither may decide which secret is sent nor where. The rules, applied on the worker:

- A secret is read from a variable whose name is fixed per service (``BRANDFLOW_WAGTAIL_TOKEN``,
  ``BFL_API_KEY``, the AWS chain), never from a name the campaign gives.
- It is sent only over https, or plain http to a loopback address (a local test server).
- It is sent only to a host the operator allows: the service's own public hosts (``*.bfl.ai``, AWS S3),
  a loopback address, or a target listed in ``BRANDFLOW_ALLOWED_TARGETS``.
- A run-time publish target (``--publish``, the flow's ``publish_to``) must be listed in
  ``BRANDFLOW_ALLOWED_TARGETS``; ``brandflow run --publish`` adds its own value, since whoever types the
  command is the operator of that process.

``BRANDFLOW_ALLOWED_TARGETS`` holds URI prefixes separated by spaces or commas, e.g.
``"s3://brand-assets/ wagtail+https://cms.example.com/api/brandflow/v1/ https://bfl-proxy.internal"``. A prefix
matches a target that equals it or continues it after a ``/`` (``s3://brand`` does not match ``s3://brand-2``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from brandflow.errors import BrandflowError

ALLOW_ENV = "BRANDFLOW_ALLOWED_TARGETS"


class TargetNotAllowedError(BrandflowError):
    """A secret or a publish would go to a host, scheme or target the operator did not allow; nothing was sent."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine: ``localhost`` or a loopback IPv4/IPv6 address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_targets() -> list[str]:
    """The operator's allow-list from ``BRANDFLOW_ALLOWED_TARGETS`` (empty when unset)."""
    raw = os.environ.get(ALLOW_ENV, "")
    return [p.strip() for p in raw.replace(",", " ").split() if p.strip()]


@contextmanager
def allowing(uri: str | None) -> Iterator[None]:
    """Within the block, ``uri`` is also in this process's ``BRANDFLOW_ALLOWED_TARGETS`` (the CLI's own
    ``--publish``); the variable is restored afterwards. ``None``: nothing changes."""
    if uri is None:
        yield
        return
    before = os.environ.get(ALLOW_ENV)
    os.environ[ALLOW_ENV] = " ".join([*allowed_targets(), uri])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ALLOW_ENV, None)
        else:
            os.environ[ALLOW_ENV] = before


def _norm(uri: str) -> str:
    u = urlparse(uri)
    host = (u.hostname or "").lower()
    netloc = host + (f":{u.port}" if u.port else "")
    return f"{u.scheme.lower().split('+')[-1]}://{netloc}{u.path}"  # wagtail+https → https: one host, one transport


def listed(uri: str) -> bool:
    """Whether ``uri`` (query and credentials ignored) equals or continues an allow-list prefix after ``/``."""
    target = _norm(uri)
    for prefix in allowed_targets():
        p = _norm(prefix)
        if target == p or target.startswith(p if p.endswith("/") else p + "/"):
            return True
        if target.rstrip("/") == p.rstrip("/"):
            return True
    return False


def check_secret_destination(url: str, what: str, public_hosts: tuple[str, ...] = ()) -> None:
    """Refuse to send ``what`` (a secret, e.g. "the Wagtail API token") to ``url`` unless the operator allows it.

    Args:
        url: where the request goes (``https://host/...``; ``wagtail+https://`` is read as ``https``).
        what: the secret, for the message.
        public_hosts: the service's own hosts, always allowed over https (``"bfl.ai"`` allows ``*.bfl.ai``).

    Raises:
        TargetNotAllowedError: plain http to a non-loopback host, or a host that is neither loopback, nor
            a public host of the service, nor listed in ``BRANDFLOW_ALLOWED_TARGETS``.
    """
    u = urlparse(url)
    scheme = u.scheme.lower().split("+")[-1]
    host = (u.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise TargetNotAllowedError(f"{what} is only sent to an http(s) URL, not {url!r}")
    if is_loopback(host):
        return
    if scheme != "https":
        raise TargetNotAllowedError(
            f"{what} would go over plain http to {host}: only https is allowed (plain http only to a loopback address)")
    if any(host == h or host.endswith("." + h) for h in public_hosts) or listed(url):
        return
    raise TargetNotAllowedError(
        f"{what} would go to {host}, which the operator has not allowed. Fix: on the worker, add the target to "
        f"{ALLOW_ENV} (e.g. {ALLOW_ENV}='{u.scheme}://{u.netloc}/'); a campaign file or a flow-run parameter cannot allow a host")


def as_uri(target: str) -> str:
    """``target`` as a URI: a plain path becomes ``file:///absolute/path``."""
    from pathlib import Path

    return target if "://" in target else Path(target).expanduser().resolve().as_uri()


def check_publish_target(uri: str, runtime: bool) -> None:
    """The publish-target rule of the module doc: a run-time target (``runtime``) must be listed in
    ``BRANDFLOW_ALLOWED_TARGETS``; a campaign file's target too once the operator sets that variable (a locked-down
    worker publishes only where it says). A web-service target (``http(s)://``, ``<plugin>+https://``) must also pass
    :func:`check_secret_destination` here, before anything is generated; its publisher checks again.

    Raises:
        TargetNotAllowedError: the target is not allowed (names the variable and the fix).
    """
    if runtime:
        check_runtime_target(uri)
    elif allowed_targets() and not listed(as_uri(uri)):
        raise TargetNotAllowedError(
            f"publish.target {uri!r} is not in {ALLOW_ENV}, which the operator set on this worker. Fix: add it there, "
            "or publish to one of the listed targets")
    scheme = urlparse(uri).scheme.lower()
    if scheme in ("http", "https") or scheme.endswith(("+http", "+https")):  # a web service: it gets a credential
        check_secret_destination(uri, f"the credentials of {uri}")


def check_runtime_target(uri: str) -> None:
    """Refuse a publish target given at run time (``--publish``, the flow's ``publish_to``) unless the
    operator listed it in ``BRANDFLOW_ALLOWED_TARGETS``.

    Raises:
        TargetNotAllowedError: the target is not listed (names the variable and the fix).
    """
    if listed(as_uri(uri)):
        return
    raise TargetNotAllowedError(
        f"publish target {uri!r} was given for this run, and the operator has not allowed it. Fix: list it in "
        f"{ALLOW_ENV} on the worker, or set publish.target in the campaign file (run-time targets must be allowed by the operator)")
