"""A content-addressed blob directory whose files appear only once complete and verified.

Trust without re-hashing: when a blob has been verified (on its way in, or by hashing it later),
a small record beside it (``verified/<algorithm>/<hex>``) keeps its size, mtime, inode and the
boot it was verified in. While all four still match, the file is used without hashing it again;
anything else (a rewritten or replaced file, a reboot that may have lost unsynced data) makes
regkit hash it once more, and remove it if it no longer matches. Blob files are not fsynced: a
crash that could lose their data is also a reboot, which voids every record made before it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from ..errors import OutputError
from ..oci.digest import Digest, Verifier
from .fileio import copy_range

_HASH_READ = 4 << 20


def boot_id() -> str:
    """This boot's identity (Linux), or '' where the system does not say."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


_BOOT = boot_id()


class BlobStore:
    """``root/blobs/<algorithm>/<hex>``: written through a temporary file, renamed when verified.

    A store regkit made for one pull is ``trusted``: its files were verified as they were written.
    Any other directory (the cache, a ``--cache-dir``, a folder of a notebook) may have been changed
    since: a blob found there is used only if its verification record still matches the file, and
    is hashed once otherwise (and removed if it no longer matches).
    """

    def __init__(self, root: str | os.PathLike[str], *, trusted: bool = False) -> None:
        self.root = Path(root)
        self.trusted = trusted
        self._verified: set[Digest] = set()

    def path(self, digest: Digest) -> Path:
        """Where the blob with ``digest`` lives (the digest was validated, so it is a safe file name)."""
        return self.root / "blobs" / digest.algorithm / digest.hex

    def record_path(self, digest: Digest) -> Path:
        """Where the verification record of ``digest`` lives."""
        return self.root / "verified" / digest.algorithm / digest.hex

    def has(self, digest: Digest, size: int) -> bool:
        """True when the blob is present with the right size and (unless trusted) a verified digest."""
        path = self.path(digest)
        try:
            stat = path.stat()
        except OSError:
            return False
        if not path.is_file() or stat.st_size != size:
            return False
        if self.trusted or digest in self._verified:
            return True
        if self._record_matches(digest, stat):
            self._verified.add(digest)
            return True
        return self.verify(digest, size)

    def verify(self, digest: Digest, size: int) -> bool:
        """Hash the stored blob now; record it when it matches, remove it (and its record) when not."""
        path = self.path(digest)
        verifier = Verifier(digest, None, "cached blob")
        try:
            with open(path, "rb", buffering=0) as handle:
                stat = os.fstat(handle.fileno())
                while chunk := handle.read(_HASH_READ):
                    verifier.update(chunk)
        except OSError:
            return False
        if verifier.actual != digest or verifier.count != size:
            self.remove(digest)  # corrupt: fetch it again rather than use it
            return False
        self._record(digest, stat)
        return True

    def remove(self, digest: Digest) -> None:
        """Delete a blob and its record (either may already be gone)."""
        self._verified.discard(digest)
        self.record_path(digest).unlink(missing_ok=True)
        self.path(digest).unlink(missing_ok=True)

    def _record_matches(self, digest: Digest, stat: os.stat_result) -> bool:
        record = self.record_path(digest)
        try:
            saved = json.loads(record.read_bytes())
        except (OSError, ValueError):
            return False
        if saved != _record_of(stat):
            return False
        with suppress(OSError):
            os.utime(record)  # the record's mtime is the blob's last use, for least-recently-used pruning
        return True

    def _record(self, digest: Digest, stat: os.stat_result) -> None:
        """Write the record atomically; a store that cannot take one just hashes again next time."""
        self._verified.add(digest)
        record = self.record_path(digest)
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".record.", dir=record.parent)
            with os.fdopen(fd, "w") as handle:
                json.dump(_record_of(stat), handle)
            os.replace(tmp, record)
        except OSError:
            return

    def _placed(self, tmp: str, digest: Digest) -> None:
        """Rename a verified temporary file into place and record it."""
        final = self.path(digest)
        # Concurrent pulls may race to the same digest: both files are verified and identical.
        os.replace(tmp, final)
        self._record(digest, final.stat())

    @contextmanager
    def _incoming(self, algorithm: str, what: str, digest: Digest | None) -> Iterator[tuple[int, str]]:
        """A new temporary file in the blob folder, removed unless renamed (Ctrl-C too)."""
        folder = self.root / "blobs" / algorithm
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".incoming.", suffix=".partial", dir=folder)
        except OSError as exc:
            raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        try:
            yield fd, tmp
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise OutputError(f"writing {what} {digest or ''} into {folder} failed: {exc.strerror or exc}") from None
        except BaseException:
            # BaseException too: Ctrl-C must not leave a partial file behind.
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def writer(
        self, digest: Digest | None, size: int | None, what: str = "blob"
    ) -> Iterator[tuple[BinaryIO, Verifier]]:
        """A temporary file and a verifier; on a clean exit the file is checked and renamed into place.

        With ``digest=None`` the content is named by the digest computed while writing.
        """
        verifier = Verifier(digest, size, what)
        with self._incoming(digest.algorithm if digest else "sha256", what, digest) as (fd, tmp):
            with os.fdopen(fd, "wb") as handle:
                yield handle, verifier
            verifier.check()
            self._placed(tmp, verifier.actual)

    def adopt_range(self, digest: Digest, source: int, offset: int, size: int) -> None:
        """Copy an already verified blob from ``source`` at ``offset`` into the store (a kernel-side copy)."""
        if self.path(digest).is_file():
            return  # another pull put it there first
        with self._incoming(digest.algorithm, "blob", digest) as (fd, tmp):
            try:
                copy_range(source, fd, size, offset)
            finally:
                os.close(fd)
            self._placed(tmp, digest)

    def adopt_file(self, digest: Digest, source: Path) -> None:
        """Hard-link an already verified blob file into the store (a copy across file systems)."""
        if self.path(digest).is_file():
            return
        with self._incoming(digest.algorithm, "blob", digest) as (fd, tmp):
            os.close(fd)
            try:
                os.unlink(tmp)
                os.link(source, tmp)
            except OSError:
                with open(source, "rb") as handle, open(tmp, "wb") as out:
                    copy_range(handle.fileno(), out.fileno(), os.fstat(handle.fileno()).st_size)
            self._placed(tmp, digest)

    def write_bytes(self, digest: Digest, data: bytes, what: str = "blob") -> Path:
        """Store a small blob held in memory."""
        with self.writer(digest, len(data), what) as (handle, verifier):
            verifier.update(data)
            handle.write(data)
        return self.path(digest)


def _record_of(stat: os.stat_result) -> dict[str, object]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino, "boot": _BOOT}
