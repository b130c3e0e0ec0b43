"""One GPU job at a time per device: a Prefect global concurrency limit when there is one, a lock otherwise.

Why: a diffusion pipeline holds gigabytes of VRAM and is not thread-safe (its scheduler keeps state),
while the campaign flow runs several jobs at once (``ThreadPoolTaskRunner``) so that CPU work — compose,
OCR, colour QA of finished images — overlaps the next generation. Serialising only the GPU section
(load + pipeline call) gives exactly that overlap: job B generates while job A is in QA.

Two levels, both entered by :func:`gpu_slot`:

1. **In this process**: a ``threading.Lock`` per device, always.
2. **Across processes and workers** sharing a GPU: the Prefect global concurrency limit named
   :func:`limit_name` (``brandflow-gpu-cuda-0`` for ``cuda``/``cuda:0``), taken with
   ``prefect.concurrency.sync.concurrency(name, occupy=1, strict=True)`` — *only* when this process
   talks to a Prefect server (``PREFECT_API_URL`` is set) and that limit exists there. Create it once
   per GPU::

       prefect gcl create brandflow-gpu-cuda-0 --limit 1

   Whether the limit exists is asked once per process and name and then cached (:func:`reset` clears it).
   Without a server (ephemeral runs, tests, notebooks) only the process lock applies, which is enough
   for one worker process per GPU.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_limit_exists: dict[tuple[str, str], bool] = {}


def limit_name(device: str) -> str:
    """The Prefect global concurrency limit that guards ``device``: ``'cuda'`` → ``'brandflow-gpu-cuda-0'``.

    A global concurrency limit is per Prefect *server*, so with several GPU machines on one server give each
    machine's workers its own prefix: ``BRANDFLOW_GPU_LIMIT_PREFIX=brandflow-gpu-node-a`` →
    ``'brandflow-gpu-node-a-cuda-0'`` (and create that limit).

    Args:
        device: a torch device string (``'cuda'``, ``'cuda:1'``, ``'cpu'``).
    """
    if device == "cuda":
        device = "cuda:0"
    prefix = os.environ.get("BRANDFLOW_GPU_LIMIT_PREFIX", "").strip() or "brandflow-gpu"
    return f"{prefix}-" + device.replace(":", "-")


def _lock(device: str) -> threading.Lock:
    name = limit_name(device)
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def _api_url() -> str | None:
    try:
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    except Exception:  # noqa: BLE001 — no usable Prefect settings: behave as without a server
        return None


def server_limit_exists(name: str) -> bool:
    """Whether the Prefect server this process talks to has a global concurrency limit ``name`` (cached).

    ``False`` without a server (``PREFECT_API_URL`` unset) or when the server cannot be asked (logged once).
    """
    url = _api_url()
    if url is None:
        return False
    key = (url, name)
    if key not in _limit_exists:
        try:
            from prefect.client.orchestration import get_client
            from prefect.exceptions import ObjectNotFound

            try:
                with get_client(sync_client=True) as client:
                    client.read_global_concurrency_limit_by_name(name)
                _limit_exists[key] = True
            except ObjectNotFound:
                _limit_exists[key] = False
                log.info(
                    "no Prefect global concurrency limit %r on %s: GPU work is serialised in this process only "
                    "(create it with `prefect gcl create %s --limit 1` to serialise across workers)", name, url, name
                )
        except Exception as e:  # noqa: BLE001 — a slot guard must not break generation; say why once
            _limit_exists[key] = False
            log.warning("could not ask the Prefect server %s for limit %r (%s): serialising GPU work in this process only", url, name, e)
    return _limit_exists[key]


def reset() -> None:
    """Forget cached limit look-ups (tests, or after creating a limit in a long-running process)."""
    _limit_exists.clear()


@contextmanager
def gpu_slot(device: str) -> Iterator[str]:
    """Hold the GPU ``device`` for the duration of the ``with`` block.

    Args:
        device: torch device string of the work inside the block.

    Yields:
        ``'prefect'`` when the Prefect global concurrency limit :func:`limit_name` was also taken,
        ``'local'`` when only this process's lock was.

    Raises:
        prefect.concurrency.ConcurrencySlotAcquisitionError: the limit disappeared from the server
            between the look-up and the acquisition (``strict=True``).
    """
    name = limit_name(device)
    with _lock(device):
        if server_limit_exists(name):
            from prefect.concurrency.sync import concurrency

            with concurrency(name, occupy=1, strict=True):
                yield "prefect"
        else:
            yield "local"
