"""The small records that let a store trust a file without hashing it again: its size, mtime, inode and boot.

While all four still match, the file is the one that was verified; a reboot (which may have lost unsynced
data) or any write voids the record, and the file is hashed once more.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..oci.digest import Digest, Verifier
from .fileio import chunks_at
from .output import owner

_HASH_READ = 4 << 20


def boot_id() -> str:
    """This boot's identity (Linux), or '' where the system does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_BOOT = boot_id()


def file_record(stat: os.stat_result) -> dict[str, object]:
    """What identifies a file's content as it is now (any write moves its mtime)."""
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino, "boot": _BOOT}


def write_record(path: Path, data: object) -> None:
    """Write a record atomically; a store that cannot take one just hashes again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".record.{owner()}.", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # Ctrl-C too: no stray record file
        raise


def hashes_to(fd: int, offset: int, size: int, digest: Digest) -> bool:
    """Whether ``size`` bytes of ``fd`` from ``offset`` have ``digest``."""
    verifier = Verifier(digest, None, "cached blob")
    for chunk in chunks_at(fd, offset, size, _HASH_READ):
        verifier.update(chunk)
    return verifier.actual == digest and verifier.count == size
