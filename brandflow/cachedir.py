"""The user's cache folder: results that depend only on a file's content, kept across runs and campaigns.

QA reads the lettering of every packshot (RapidOCR, ~0.5 s of CPU each) and the words of every pasted source
(Tesseract, ~0.2 s). Those readings depend only on the file's bytes and the engine, so they are kept under the
file's sha256 and the engine's name and version: a second campaign over the same catalogue, or a run into a new
folder, reads no packshot again. Every file name there is a hex digest plus a fixed suffix; nothing from a feed
or campaign becomes part of a path.

``BRANDFLOW_CACHE_DIR`` chooses the folder; unset, it is ``$XDG_CACHE_HOME/brandflow`` (``~/.cache/brandflow``),
the XDG Base Directory specification's place for non-essential data. Set it to ``off`` (or empty) to keep readings
in each run folder only, as before. Keep it a folder only you can write: a reading found there is trusted.

The cache only grows (the example's 68 readings take 38 kB; a catalogue of 100 000 packshots keeps about 100 MB).
:func:`usage` measures it and :func:`prune` empties it, whole or of readings written before a date
(``brandflow cache info`` / ``brandflow cache clear --older-than DAYS``). A pruned reading is simply read again.
Only files whose names brandflow writes there are counted or removed: a cache folder pointed at a folder that also
holds other files (a mistyped ``BRANDFLOW_CACHE_DIR=~``) loses none of them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from brandflow.safenames import remove_stale_temps, write_atomic

log = logging.getLogger(__name__)
T = TypeVar("T")
_warned: set[Path] = set()  # each unusable folder is logged once per process, not once per creative
_swept: set[Path] = set()  # folders whose killed writers' temporary files this process removed (once: keep() does not)

ENV = "BRANDFLOW_CACHE_DIR"
#: The sub-folder of QA's per-source readings (a packshot's lettering, a source's words), in the user's cache or a run's
#: ``work/`` folder.
QA_READINGS = "qa-sources"
#: Values of :data:`ENV` that switch the shared cache off.
OFF = frozenset({"", "0", "off", "no", "none", "false"})
#: The sub-folders brandflow keeps results in, and the names of those results: ``<content sha256>-<16 hex of the
#: reader and its settings>.json`` (``qa/label_text.py``, ``qa/source_text.py``).
SUBFOLDERS = (QA_READINGS,)
_KEPT_NAME = re.compile(r"[0-9a-f]{64}-[0-9a-f]{16}\.json")


def user_cache_dir() -> Path | None:
    """The shared cache folder (see the module doc), or ``None`` when :data:`ENV` switches it off. Pure: reads the
    environment, creates nothing. A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification says."""
    value = os.environ.get(ENV)
    if value is not None:
        return None if value.strip().lower() in OFF else Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path("~/.cache").expanduser()
    return base / "brandflow"


def shared_folder(name: str) -> Path | None:
    """``<user cache>/<name>``, created (the cache folder itself private to the user: mode 0700), or ``None`` when the
    cache is off or cannot be created (a read-only home, a file in the way): the caller then keeps its results in
    the run folder. The first call per process removes temporary files that killed writers left there. Never raises;
    a folder that cannot be created is logged as a warning, once per process.

    Args:
        name: a fixed sub-folder name of brandflow's (``"qa-sources"``), never user input.
    """
    root = user_cache_dir()
    if root is None:
        return None
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = root / name
        folder.mkdir(exist_ok=True)
        if folder not in _swept:  # the cache only grows: sweeping it on every write would cost a scandir of all of it
            _swept.add(folder)
            remove_stale_temps(folder)
    except OSError as e:
        if root in _warned:
            return None
        _warned.add(root)
        log.warning("the shared cache %s cannot be used (%s); readings are kept in the run folder only. "
                    "Set %s to a writable folder, or to 'off'.", root, e, ENV)
        return None
    return folder


def keep(path: Path, data: bytes) -> bool:
    """Write a kept result atomically (:func:`brandflow.safenames.write_atomic`, without its per-write sweep of the
    folder: :func:`shared_folder` sweeps once per process); returns whether it was written. A full disk or a folder
    that became unwritable is logged as a warning and loses nothing but the keeping: the result is computed again
    next time. Never raises ``OSError``."""
    try:
        write_atomic(path, data, sweep=False)
    except OSError as e:
        log.warning("could not keep %s (%s); it is computed again next time", path, e)
        return False
    return True



def kept_or_computed(path: Path | None, load: Callable[[Path], T | None], compute: Callable[[], T],
                     dump: Callable[[T], bytes]) -> tuple[T, bool]:
    """``(value, found)``: the result kept at ``path`` (``load`` returns ``None`` for a missing or unreadable file), else
    ``compute()``'s, then kept there with :func:`keep` (``dump`` gives its bytes). ``path`` ``None``: nothing is kept.
    A result reused has its modification time set to now, so :func:`prune` removes what no run has used lately
    rather than what was computed long ago and is read every day.

    Raises:
        Whatever ``compute`` raises (nothing is kept then).
    """
    if path is not None and (found := load(path)) is not None:
        try:
            os.utime(path)
        except OSError:  # a read-only cache still serves; only pruning by age is less exact there
            pass
        return found, True
    value = compute()
    if path is not None:
        keep(path, dump(value))
    return value, False

@dataclass(frozen=True)
class CacheUsage:
    """What the shared cache holds (or what :func:`prune` removed from it).

    Attributes:
        folder: the cache folder (:func:`user_cache_dir`).
        files: kept results (files brandflow named; nothing else in the folder is counted).
        bytes: their size on disk, bytes (file sizes, not blocks).
    """

    folder: Path
    files: int
    bytes: int


def _kept_entries(root: Path):  # noqa: ANN202 - an iterator of os.DirEntry
    for name in SUBFOLDERS:
        try:
            entries = list(os.scandir(root / name))
        except OSError:  # not made yet, or unreadable: nothing of ours to count there
            continue
        for entry in entries:
            if _KEPT_NAME.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                yield entry


def usage() -> CacheUsage | None:
    """How many results the shared cache keeps and their bytes; ``None`` when the cache is off (:data:`ENV`).
    Creates nothing; a folder that does not exist yet holds 0 files."""
    root = user_cache_dir()
    if root is None:
        return None
    files = size = 0
    for entry in _kept_entries(root):
        try:
            size += entry.stat(follow_symlinks=False).st_size
            files += 1
        except OSError:  # removed meanwhile (another process pruning)
            pass
    return CacheUsage(root, files, size)


def prune(older_than_days: float | None = None) -> CacheUsage | None:
    """Remove the shared cache's kept results: all of them, or those no run has used for more than
    ``older_than_days`` days (by file modification time, which :func:`kept_or_computed` sets when it writes or
    reuses a result). Each removed result is computed again when next needed; a run reading one as it is removed
    reads it again. Returns what was removed (``None`` when the cache is off). Files brandflow did not name are
    never touched.

    Args:
        older_than_days: age in days (≥ 0), ``None`` for all.

    Raises:
        ValueError: ``older_than_days`` is negative.
        PermissionError / OSError: a kept file cannot be removed (the folder is not yours to write).
    """
    if older_than_days is not None and older_than_days < 0:
        raise ValueError(f"older_than_days must be ≥ 0, got {older_than_days}")
    root = user_cache_dir()
    if root is None:
        return None
    cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
    files = size = 0
    for entry in _kept_entries(root):
        try:
            st = entry.stat(follow_symlinks=False)
            if cutoff is not None and st.st_mtime >= cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:  # another process pruned it first
            continue
        files, size = files + 1, size + st.st_size
    return CacheUsage(root, files, size)
