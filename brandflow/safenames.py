"""Names made from untrusted text: folder names, publish-key segments and temporary files.

Product ids, titles and column values come from a feed that someone else controls. None of them may
ever become a path component as it is: ``../../tmp/x``, ``/etc``, ``.``, a 300-character id or a name
with a NUL would escape the run folder, collide with another product or fail with "File name too long".

- :func:`hashed_name` names a folder after a content hash, with a short readable prefix.
- :func:`safe_segment` turns a value into one key segment, **injectively**: a value that is already safe
  stays as it is; any other value becomes ``<slug>~<hash>``. ``~`` never survives slugging, so a kept
  value can never equal a rewritten one, and two rewritten values differ unless 64 bits of sha256 collide.
- :func:`atomic_temp` gives each writer its own temporary file beside the target (never a shared
  ``.name.tmp``), named with the writer's process id so that a later run can remove the ones a killed
  process left behind (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path

#: Characters a key segment or file name keeps as they are.
_SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest segment :func:`safe_segment` returns (file systems allow 255 bytes; keys stay readable).
MAX_SEGMENT = 120
#: Hex digits of sha256 in rewritten names: 64 bits, so an accidental collision needs ~4·10⁹ distinct ids.
HASH_HEX = 16


def digest(text: str, n: int = HASH_HEX) -> str:
    """The first ``n`` hex digits of the sha256 of ``text`` (UTF-8, surrogates escaped)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def slug(text: str, max_len: int = 40) -> str:
    """A readable, safe prefix of ``text``: runs of anything but ``[A-Za-z0-9._-]`` become ``-``, no
    leading dots or dashes, at most ``max_len`` characters. Not injective (use it only as a prefix)."""
    return _UNSAFE_RUN.sub("-", text)[: max_len * 4].lstrip(".-")[:max_len].rstrip(".-")


def hashed_name(text: str, prefix_len: int = 40) -> str:
    """A folder or file stem for ``text``: ``<slug>-<16 hex of sha256>`` (``<hash>`` alone when nothing
    readable is left), at most ``prefix_len + 17`` characters, safe on every file system."""
    prefix = slug(text, prefix_len)
    return f"{prefix}-{digest(text)}" if prefix else digest(text)


def safe_segment(value: object, max_len: int = MAX_SEGMENT) -> str:
    """One publish-key segment for ``value``, injective over all values.

    ``'apple-juice'`` → ``'apple-juice'`` (already safe: unchanged); ``'a/b'`` → ``'a-b~<16 hex>'``;
    ``'..'`` → ``'~<16 hex>'``; a value longer than ``max_len`` → its slug cut short ``~<16 hex>``.
    The hash is of the whole original value, so ``'a/b'``, ``'a b'`` and ``'a-b'`` give three keys.
    """
    s = str(value)
    if _SAFE.match(s) and len(s) <= max_len:
        return s
    return f"{slug(s, max_len - HASH_HEX - 1)}~{digest(s)}"


def atomic_temp(target: Path) -> Path:
    """Create and return an empty temporary file beside ``target``, unique to this writer:
    ``.<target name, cut>.<pid>.<random>.tmp``. Rename it onto ``target`` with :func:`os.replace`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name[:80]}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(name)


def write_atomic(path: Path, data: bytes, sweep: bool = True) -> None:
    """Write ``data`` to ``path`` through a writer-private temporary file and a rename, so a crash never
    leaves half a file and two writers never share a temporary file; with ``sweep``, temporary files that killed
    writers left in that folder are removed first (one ``scandir`` of the folder: a caller writing many files into
    one large folder sweeps it once itself, :func:`remove_stale_temps`, and passes ``sweep=False``)."""
    if sweep:
        remove_stale_temps(path.parent)
    tmp = atomic_temp(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_TEMP = re.compile(r"^\..*\.(\d+)\.[^.]+\.tmp$")


def remove_stale_temps(folder: Path) -> int:
    """Delete the temporary files of :func:`atomic_temp` in ``folder`` whose writer process is gone
    (killed mid-write on this machine); returns how many. Files of live processes are left alone."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and entry.is_file(follow_symlinks=False) and not _alive(int(m.group(1))):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def remove_stale_temps_below(root: Path) -> int:
    """:func:`remove_stale_temps` in ``root`` and every folder below it (symlinked folders are not followed); returns
    how many were deleted. For a run folder: a writer killed mid-write in a job's folder that no later run writes into
    (the job was done) would otherwise leave its temporary file for good. One ``scandir`` per folder: a few ms for
    the example's run folder."""
    return sum(remove_stale_temps(Path(folder)) for folder, _dirs, _files in os.walk(root))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def regular_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file, or ``None`` when it is a regular file. Decided from
    :func:`os.stat` alone, so a FIFO or a device is refused without being opened (opening a FIFO for reading
    blocks until someone writes to it; a device may never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        return f"is {kind}, not a regular file; refused without reading it"
    return None
