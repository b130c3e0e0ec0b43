"""The ``file://`` target: a folder, with a JSON sidecar per object holding its metadata and sha256."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from brandflow.records import PublishedAsset, sha256_file
from brandflow.publishers.base import AssetLabels, OnConflict
from brandflow.safenames import atomic_temp, remove_stale_temps, write_atomic


class FilePublisher:
    """Publishes into a local folder given as ``file:///abs/dir`` or a plain path.

    Idempotent: if the key already holds the same sha256, nothing is written. On a different
    creative at an existing key, ``on_conflict`` decides: ``skip`` keeps the old file,
    ``overwrite`` replaces it, ``version`` writes ``name.v2.ext`` (then v3 …) beside it.
    Writes go through a temporary file private to the writer and a rename, so a crash never leaves half a
    creative; temporary files of writers that were killed are removed by the next write into that folder.
    """

    def __init__(self, uri: str):
        parsed = urlparse(uri)
        self.root = Path(unquote(parsed.path) if parsed.scheme == "file" else uri).resolve()

    def uri_for(self, key: str) -> str:
        return (self.root / key).as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:  # keys are sanitised upstream; this is the last line of defence
            raise ValueError(f"key {key!r} escapes the publish folder {self.root}")
        return path

    @staticmethod
    def _stored_sha(path: Path) -> str | None:
        meta = path.with_name(path.name + ".json")
        if meta.is_file():
            try:
                return json.loads(meta.read_text())["sha256"]
            except (ValueError, KeyError):
                pass
        return sha256_file(path) if path.is_file() else None

    def publish(
        self, src: Path, key: str, sha256: str, metadata: dict[str, str], on_conflict: OnConflict,
        labels: AssetLabels | None = None,
    ) -> PublishedAsset:
        """Copy ``src`` to ``root/key`` (see class doc for idempotency and conflicts); ``labels`` are not used.

        Raises:
            ValueError: the key would leave the publish folder.
            OSError: the folder is not writable.
        """
        dest = self._path(key)
        existing = self._stored_sha(dest) if dest.exists() else None
        if existing == sha256:
            self._write_meta(dest, metadata, sha256, only_if_missing=True)  # a crash may have come between the two writes
            return PublishedAsset(uri=dest.as_uri(), key=key, sha256=sha256, written=False, link=dest.as_uri())
        if existing is not None:
            if on_conflict == "skip":
                return PublishedAsset(uri=dest.as_uri(), key=key, sha256=existing, written=False, link=dest.as_uri())
            if on_conflict == "version":
                n = 2
                while True:
                    candidate = dest.with_name(f"{dest.stem}.v{n}{dest.suffix}")
                    sha = self._stored_sha(candidate) if candidate.exists() else None
                    if sha is None or sha == sha256:
                        break
                    n += 1
                key = str(candidate.relative_to(self.root))
                if sha == sha256:
                    return PublishedAsset(uri=candidate.as_uri(), key=key, sha256=sha256, written=False, link=candidate.as_uri())
                dest = candidate
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(dest.parent)  # left by a writer killed mid-copy (a re-run leaves no .tmp behind)
        tmp = atomic_temp(dest)  # one per writer: two writers never share a temporary file
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        self._write_meta(dest, metadata, sha256)
        return PublishedAsset(uri=dest.as_uri(), key=key, sha256=sha256, written=True, link=dest.as_uri())

    def holds(self, key: str, sha256: str) -> bool:
        """Whether ``root/key`` holds exactly the bytes of ``sha256`` (the file is hashed again, not its sidecar
        believed) with its metadata sidecar beside it: what :meth:`publish` of those bytes would leave, so
        publishing them again would write nothing. Reads only.

        Raises:
            ValueError: the key would leave the publish folder.
        """
        dest = self._path(key)
        return dest.is_file() and dest.with_name(dest.name + ".json").is_file() and sha256_file(dest) == sha256

    @staticmethod
    def _write_meta(dest: Path, metadata: dict[str, str], sha256: str, only_if_missing: bool = False) -> None:
        """The sidecar ``<name>.json``: object metadata plus sha256, written after the image itself."""
        meta = dest.with_name(dest.name + ".json")
        if only_if_missing and meta.exists():
            return
        write_atomic(meta, json.dumps({**metadata, "sha256": sha256}, indent=1, sort_keys=True).encode())
