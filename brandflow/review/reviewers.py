"""Who may approve: reviewers the operator added, each holding a token the system can check.

The operator runs ``brandflow reviewer add NAME`` on the machine that runs the flow (the worker, or the
machine of ``brandflow run``); it writes the reviewer to a keyfile — ``$BRANDFLOW_REVIEWERS_FILE``,
default ``~/.config/brandflow/reviewers.json``, mode 0600 — and prints the reviewer's token once. The
keyfile holds one random 256-bit secret and, per reviewer, a random nonce; a token is
``bfr1.<base64url(name)>.<HMAC-SHA256(secret, name NUL nonce)>`` (RFC 2104 HMAC, Python's ``hmac``), so the
keyfile never stores a token and adding a reviewer again (new nonce) revokes the old token.

A token is a password: it never travels in a review answer. What travels is a *signature* of each
decision: HMAC-SHA256 keyed with the token over the decision's canonical JSON, which names the flow run,
so a captured answer cannot approve another run or another creative (:func:`sign`, :func:`check`). The
flow recomputes the reviewer's token from the keyfile and checks the signature before applying anything.

Without a keyfile (or with no reviewer in it) nothing is checked: decisions are recorded with the name
given and ``verified: false`` — the README's "Reviewing" section says how to turn checking on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from brandflow.errors import BrandflowError
from brandflow.imageio import write_atomic

KEYFILE_ENV = "BRANDFLOW_REVIEWERS_FILE"
PREFIX = "bfr1"


class ReviewerError(BrandflowError):
    """A token or signature that does not check out, or a keyfile that cannot be used."""


def keyfile() -> Path:
    """The reviewers keyfile: ``$BRANDFLOW_REVIEWERS_FILE`` or ``~/.config/brandflow/reviewers.json``."""
    return Path(os.environ.get(KEYFILE_ENV) or Path.home() / ".config" / "brandflow" / "reviewers.json").expanduser()


def _load(path: Path | None = None) -> dict[str, Any] | None:
    path = path or keyfile()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        bytes.fromhex(data["secret"])
        assert isinstance(data["reviewers"], dict)
    except (OSError, ValueError, KeyError, AssertionError, TypeError) as e:
        raise ReviewerError(f"{path}: not a brandflow reviewers keyfile ({type(e).__name__}); "
                            "move it away and add the reviewers again with `brandflow reviewer add NAME`") from None
    return data


def configured(path: Path | None = None) -> bool:
    """True when a keyfile names at least one reviewer: then every decision must be signed by one."""
    data = _load(path)
    return bool(data and data["reviewers"])


def names(path: Path | None = None) -> list[str]:
    """The reviewers in the keyfile, sorted."""
    data = _load(path)
    return sorted(data["reviewers"]) if data else []


def _token(data: dict[str, Any], name: str) -> str:
    nonce = data["reviewers"][name]["nonce"]
    mac = hmac.new(bytes.fromhex(data["secret"]), f"{name}\0{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX}.{base64.urlsafe_b64encode(name.encode()).decode().rstrip('=')}.{mac}"


def add(name: str, path: Path | None = None) -> str:
    """Add (or re-issue) reviewer ``name``; returns the token to hand to them. Re-issuing revokes the old token.

    Raises:
        ReviewerError: an empty or over-long name (1–100 printable characters).
    """
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ReviewerError(f"reviewer name {name!r}: use 1–100 printable characters, e.g. 'Ana Lima (brand)'")
    path = path or keyfile()
    data = _load(path) or {"secret": secrets.token_hex(32), "reviewers": {}}
    data["reviewers"][name] = {"nonce": secrets.token_hex(16)}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(data, indent=1).encode())
    os.chmod(path, 0o600)
    return _token(data, name)


def remove(name: str, path: Path | None = None) -> bool:
    """Remove reviewer ``name`` (their token stops working); False when there was none."""
    path = path or keyfile()
    data = _load(path)
    if not data or name not in data["reviewers"]:
        return False
    del data["reviewers"][name]
    write_atomic(path, json.dumps(data, indent=1).encode())
    os.chmod(path, 0o600)
    return True


def login(token: str, path: Path | None = None) -> str:
    """The reviewer a token belongs to.

    Raises:
        ReviewerError: no reviewers configured, a malformed token, or one that is not (or no longer) valid.
    """
    data = _load(path)
    if not data or not data["reviewers"]:
        raise ReviewerError(f"no reviewers are configured here ({path or keyfile()}): add one with `brandflow reviewer add NAME`")
    name = name_of(token)
    if name is None or name not in data["reviewers"] or not hmac.compare_digest(_token(data, name), token.strip()):
        raise ReviewerError("this reviewer token is not valid (mistyped, revoked, or from another machine's keyfile)")
    return name


def name_of(token: str) -> str | None:
    """The name a token claims (unchecked), or None when it is not shaped like a token."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        return base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def canonical(payload: dict[str, Any]) -> bytes:
    """The bytes a signature covers: sorted-key compact JSON of ``payload``."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(token: str, payload: dict[str, Any]) -> str:
    """HMAC-SHA256 of :func:`canonical` ``(payload)`` keyed with the reviewer's ``token`` (hex)."""
    return hmac.new(token.strip().encode(), canonical(payload), hashlib.sha256).hexdigest()


def check(name: str, payload: dict[str, Any], signature: str, path: Path | None = None) -> None:
    """Check that reviewer ``name`` signed ``payload``.

    Raises:
        ReviewerError: ``name`` is not a reviewer here, or the signature does not match.
    """
    data = _load(path)
    if not data or name not in data["reviewers"]:
        raise ReviewerError(f"{name!r} is not a reviewer on this worker")
    if not signature or not hmac.compare_digest(sign(_token(data, name), payload), signature):
        raise ReviewerError(f"the decision signed as {name!r} does not carry a valid signature")
