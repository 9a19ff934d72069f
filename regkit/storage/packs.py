"""A store's pack index: finished outputs hard-linked in as packs, and where each blob lies in one.

A pull into a tar writes each blob once, straight into the tar, so the cache does not copy them out
of it; it hard-links the finished tar (``packs/<name>.tar``) and records, per blob, its range there
(``packed/<algorithm>/<hex>``) with the tar's size, mtime, inode and boot, and (``outputs/<key>``) a
pack that is byte for byte a whole output. A tar changed since (its mtime moves with any write) is
hashed again before a range of it is used.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..oci.digest import Digest
from .records import file_record, hashes_to, write_record

Location = tuple[Path, int]  # a file and the offset of a blob's first byte in it


class PackIndex:
    """``root/packs``, ``root/packed`` and ``root/outputs`` of a store: the packs and what is in them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def record_path(self, digest: Digest) -> Path:
        """Where the record of ``digest``'s range in a pack lives."""
        return self.root / "packed" / digest.algorithm / digest.hex

    def pack_path(self, name: str) -> Path:
        """Where the pack called ``name`` lives."""
        return self.root / "packs" / name

    def output_path(self, key: str) -> Path:
        """Where the record of the pack that is the whole output ``key`` (a hex digest) lives."""
        return self.root / "outputs" / key

    def has_record(self, digest: Digest) -> bool:
        """True when a record places ``digest`` in a pack (checked or not)."""
        return self.record_path(digest).is_file()

    def find(self, digest: Digest, size: int) -> Location | None:
        """The pack range holding the blob when its record still matches (else hashed once, or dropped)."""
        entry = load_packed(self.record_path(digest))
        if entry is None or entry["size"] != size:
            return None
        pack = self.pack_path(entry["pack"])
        try:
            stat = pack.stat()
        except OSError:
            self.forget(digest)
            return None
        if entry["file"] != file_record(stat) and not self.verify(digest, size):
            return None
        with suppress(OSError):
            os.utime(self.record_path(digest))  # last use, for least-recently-used pruning
        return pack, entry["offset"]

    def verify(self, digest: Digest, size: int) -> bool:
        """Hash a pack range; re-record it when it matches, drop the record when not."""
        entry = load_packed(self.record_path(digest))
        if entry is not None and entry["size"] == size:
            pack = self.pack_path(entry["pack"])
            try:
                with open(pack, "rb", buffering=0) as handle:
                    stat = os.fstat(handle.fileno())
                    if hashes_to(handle.fileno(), entry["offset"], size, digest):
                        write_record(self.record_path(digest), _packed_of(entry["pack"], entry["offset"], size, stat))
                        return True
            except OSError:
                pass
        self.forget(digest)
        if entry is not None:
            self._drop_outputs({entry["pack"]})  # a pack that failed a hash is no output to reuse either
        return False

    def forget(self, digest: Digest) -> None:
        """Drop the record of ``digest``'s range (the pack stays until :meth:`collect`)."""
        self.record_path(digest).unlink(missing_ok=True)

    def link(self, source: Path, ranges: Mapping[Digest, tuple[int, int]], output_key: str = "") -> None:
        """Hard-link the finished file ``source`` in as a pack and record each blob's ``(offset, size)``
        in it (and, with ``output_key``, the pack as that whole output).

        Raises
        ------
        OSError
            The link failed (``errno`` says why: another file system, no hard links); nothing is recorded.
        """
        name = f"{secrets.token_hex(8)}.tar"
        pack = self.pack_path(name)
        pack.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, pack)
        stat = pack.stat()
        for digest, (offset, size) in ranges.items():
            write_record(self.record_path(digest), _packed_of(name, offset, size, stat))
        if output_key:
            write_record(self.output_path(output_key), _packed_of(name, 0, stat.st_size, stat))

    def whole_output(self, key: str) -> tuple[Path, os.stat_result] | None:
        """A pack that is byte for byte the output ``key`` names and unchanged since, with its stat; else None."""
        entry = load_packed(self.output_path(key))
        if entry is None:
            return None
        pack = self.pack_path(entry["pack"])
        try:
            stat = pack.stat()
        except OSError:
            return None
        return (pack, stat) if entry["file"] == file_record(stat) else None

    def in_use(self) -> set[str]:
        """The names of the packs some blob record points into."""
        root = self.root / "packed"
        records = root.glob("*/*") if root.is_dir() else ()
        return {entry["pack"] for path in records if (entry := load_packed(path)) is not None}

    def collect(self) -> None:
        """Remove the packs no record points into, and their whole-output records."""
        folder = self.root / "packs"
        if not folder.is_dir():
            return
        used, gone = self.in_use(), set()
        # A pull links its pack a moment before recording its blobs; removing it in between costs that
        # pull's blobs their cache entries, never its output (the output is another name of the file).
        for pack in folder.iterdir():
            if pack.name not in used:
                with suppress(OSError):
                    pack.unlink()
                    gone.add(pack.name)
        self._drop_outputs(gone)

    def _drop_outputs(self, packs: set[str]) -> None:
        """Forget the whole-output records of ``packs``."""
        folder = self.root / "outputs"
        for record in folder.iterdir() if folder.is_dir() else ():
            entry = load_packed(record)
            if entry is None or entry["pack"] in packs:
                record.unlink(missing_ok=True)


def _packed_of(pack: str, offset: int, size: int, stat: os.stat_result) -> dict[str, object]:
    return {"pack": pack, "offset": offset, "size": size, "file": file_record(stat)}


def load_packed(path: Path) -> dict[str, Any] | None:
    """A packed-blob record, or None when missing or malformed (a name that is not a plain file name too)."""
    try:
        entry = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), dict):
        return None
    pack, offset, size = entry.get("pack"), entry.get("offset"), entry.get("size")
    if not isinstance(pack, str) or not pack or "/" in pack or pack.startswith("."):
        return None
    if type(offset) is not int or type(size) is not int or offset < 0 or size < 0:
        return None
    return entry
