"""A content-addressed blob directory whose files appear only once complete and verified.

Trust without re-hashing: when a blob has been verified (on its way in, or by hashing it later),
a small record beside it (``verified/<algorithm>/<hex>``) keeps its size, mtime, inode and the
boot it was verified in. While all four still match, the file is used without hashing it again;
anything else (a rewritten or replaced file, a reboot that may have lost unsynced data) makes
regkit hash it once more, and remove it if it no longer matches. Blob files are not fsynced: a
crash that could lose their data is also a reboot, which voids every record made before it.

Packed blobs (see :mod:`.packs`, the store's ``packs``): a blob written straight into a finished
tar is found there by its range, under the same rule; a reader that needs a blob file (analysis,
layer conversion) gets one copied out of the pack the first time.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CacheWarning, OutputError
from ..oci.digest import Digest, Verifier
from .fileio import copy_range
from .output import owner, owner_alive
from .packs import Location, PackIndex
from .records import file_record, hashes_to, write_record

# Temporary files carry their writer (see output.owner): .incoming.<pid>-<start>-<ns>.<random>.partial (a blob
# being written) and .record.<pid>-<start>-<ns>.<random> (a record being saved). Older regkits named no owner.
_TEMPORARY = re.compile(
    r"\.(?:incoming|record)\.(?:(?P<pid>[0-9]{1,10})-(?P<start>[0-9]{1,20})-(?P<ns>[0-9]{1,20})\.)?"
    r"[A-Za-z0-9_]+(?:\.partial)?"
)
# A temporary file whose writer cannot be asked (no owner named, or one in another PID namespace) is stale
# once untouched this long: a live writer keeps writing to it.
UNOWNED_STALE_AFTER = 3600.0
_NO_LINKS = (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK)


@dataclass(frozen=True)
class Partial:
    """A temporary file in a store: ``live`` while its writer runs, else left by one that died (SIGKILL, OOM, power)."""

    path: Path
    size: int
    live: bool


class BlobStore:
    """``root/blobs/<algorithm>/<hex>``: written through a temporary file, renamed when verified.

    A store regkit made for one pull is ``trusted``: its files were verified as they were written.
    Any other directory (the cache, a ``--cache-dir``, a folder of a notebook) may have been changed
    since: a blob found there is used only if its verification record still matches the file, and
    is hashed once otherwise (and removed if it no longer matches).

    Parameters
    ----------
    root : str or os.PathLike
        The store's directory (created when a blob is first written).
    trusted : bool, default False
        True only for a store regkit made itself and nobody else wrote to.
    """

    def __init__(self, root: str | os.PathLike[str], *, trusted: bool = False) -> None:
        self.root = Path(root)
        self.trusted = trusted
        self.packs = PackIndex(self.root)
        self._verified: set[Digest] = set()

    def path(self, digest: Digest) -> Path:
        """Where the blob with ``digest`` lives (the digest was validated, so it is a safe file name).

        Parameters
        ----------
        digest : Digest
            The blob's digest.

        Returns
        -------
        pathlib.Path
            ``root/blobs/<algorithm>/<hex>``, whether or not the file exists.
        """
        return self.root / "blobs" / digest.algorithm / digest.hex

    def record_path(self, digest: Digest) -> Path:
        """Where the verification record of ``digest`` lives.

        Parameters
        ----------
        digest : Digest
            The blob's digest.

        Returns
        -------
        pathlib.Path
            ``root/verified/<algorithm>/<hex>``, whether or not the record exists.
        """
        return self.root / "verified" / digest.algorithm / digest.hex

    def has(self, digest: Digest, size: int) -> bool:
        """True when a verified file of the blob is present (copied out of a pack if only a pack has it).

        A file without a matching record (in a store not ``trusted``) is hashed now, and removed if it does
        not match.

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        size : int
            The blob's size in bytes, from its descriptor.

        Returns
        -------
        bool
            Whether :meth:`path` now holds the verified blob; False too when copying it out of a pack failed.
        """
        if self._has_file(digest, size):
            return True
        packed = self.packs.find(digest, size)
        if packed is None:
            return False
        try:
            self._extract(digest, size, packed)
        except (OSError, OutputError):
            return False
        return True

    def locate(self, digest: Digest, size: int) -> Location | None:
        """Where the verified bytes of the blob are: its own file (offset 0) or a range of a pack; no copy.

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        size : int
            The blob's size in bytes, from its descriptor.

        Returns
        -------
        tuple of (pathlib.Path, int) or None
            The file and the offset the blob starts at; None when the store does not hold it verified.
        """
        if self._has_file(digest, size):
            return self.path(digest), 0
        return self.packs.find(digest, size)

    def _has_file(self, digest: Digest, size: int) -> bool:
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
        """Hash the stored blob (file or packed range) now; record it when it matches, remove it when not.

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        size : int
            The blob's size in bytes, from its descriptor.

        Returns
        -------
        bool
            True when the stored bytes have ``digest`` and ``size``; False when they cannot be read, or do not
            match (then the file, or the record of the packed range, is removed).
        """
        if not self.path(digest).is_file() and self.packs.has_record(digest):
            return self.packs.verify(digest, size)
        try:
            with open(self.path(digest), "rb", buffering=0) as handle:
                stat = os.fstat(handle.fileno())
                good = hashes_to(handle.fileno(), 0, size, digest) and stat.st_size == size
        except OSError:
            return False
        if not good:
            self.remove(digest)  # corrupt: fetch it again rather than use it
            return False
        self._record(digest, stat)
        return True

    def remove(self, digest: Digest) -> None:
        """Delete a blob and its records (any may already be gone); :meth:`PackIndex.collect` removes unused packs.

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        """
        self._verified.discard(digest)
        self.record_path(digest).unlink(missing_ok=True)
        self.packs.forget(digest)
        self.path(digest).unlink(missing_ok=True)

    def partials(self) -> list[Partial]:
        """The temporary files in the store, live ones (a pull writing right now) and stale ones.

        Returns
        -------
        list of Partial
            Each file's path, size and whether its writer still runs (a writer that cannot be asked counts as
            live while the file was touched in the last hour); folders that cannot be read are skipped.
        """
        found: list[Partial] = []
        folders = [self.root, self.root / "outputs"]  # the root: the probe of cache.unusable
        # listings/ and merged/ are what an analysis keeps beside the blobs (written the same way).
        for kind in ("blobs", "verified", "packed", "listings", "merged"):
            with suppress(OSError):
                folders += [entry for entry in (self.root / kind).iterdir() if entry.is_dir()]
        now = time.time()
        for folder in folders:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                match = _TEMPORARY.fullmatch(entry.name) if entry.name.startswith(".") else None
                if match is None or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    stat = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # renamed into place (or removed) just now
                alive = owner_alive(int(match["pid"]), int(match["start"]), int(match["ns"])) if match["pid"] else None
                live = alive if alive is not None else now - stat.st_mtime < UNOWNED_STALE_AFTER
                found.append(Partial(Path(entry.path), stat.st_size, live))
        return found

    def remove_stale(self) -> list[Partial]:
        """Remove the temporary files whose writer has died (never a live one); the ones removed.

        Returns
        -------
        list of Partial
            The files removed; one that cannot be removed is left out of the list, and stays.
        """
        removed: list[Partial] = []
        for partial in self.partials():
            if not partial.live:
                with suppress(OSError):
                    partial.path.unlink()
                    removed.append(partial)
        return removed

    def adopt_pack(self, source: Path, ranges: Mapping[Digest, tuple[int, int]], output_key: str = "") -> None:
        """Enter verified blobs that are ``(offset, size)`` ranges of the finished file ``source``.

        The file is hard-linked in once (and, with ``output_key``, recorded as that whole output);
        on another file system (no hard link) each blob is copied out.

        Parameters
        ----------
        source : pathlib.Path
            A finished file (an output tar) whose ranges were verified as it was written.
        ranges : mapping of Digest to (int, int)
            Each blob's ``(offset, size)`` in ``source``; blobs the store already holds are skipped.
        output_key : str, default ""
            The key under which the whole file is recorded as a reusable output; empty for none.

        Warns
        -----
        CacheWarning
            The store cannot hard-link ``source`` (another file system, or no hard links): the blobs are
            copied, written twice.

        Raises
        ------
        OutputError
            A blob could not be copied into the store (disk full, permissions); the temporary file is removed.
        Cancelled
            A signal asked to stop during the copy.
        OSError
            ``source`` cannot be opened to copy from.
        """
        wanted = {digest: span for digest, span in ranges.items() if self.locate(digest, span[1]) is None}
        if not wanted:
            return
        try:
            self.packs.link(source, wanted, output_key)
        except OSError as exc:
            if exc.errno in _NO_LINKS:
                self._warn_copies(source)
            with open(source, "rb", buffering=0) as handle:
                for digest, (offset, size) in wanted.items():
                    self.adopt_range(digest, handle.fileno(), offset, size)

    def _warn_copies(self, source: Path) -> None:
        warnings.warn(
            CacheWarning(
                f"the blob cache {self.root} cannot hard-link outputs in {source.parent} (another file system,"
                " or one without hard links); regkit copies the blobs into the cache instead, writing them twice"
            ),
            stacklevel=4,
        )

    def _extract(self, digest: Digest, size: int, location: Location) -> None:
        """Copy a packed blob out into its own file (for readers that need one)."""
        pack, offset = location
        with open(pack, "rb", buffering=0) as handle, self._incoming(digest.algorithm, "blob", digest) as (fd, tmp):
            try:
                copy_range(handle.fileno(), fd, size, offset)
            finally:
                os.close(fd)
            self._placed(tmp, digest)
        self.packs.forget(digest)

    def _record_matches(self, digest: Digest, stat: os.stat_result) -> bool:
        record = self.record_path(digest)
        try:
            saved = json.loads(record.read_bytes())
        except (OSError, ValueError):
            return False
        if saved != file_record(stat):
            return False
        with suppress(OSError):
            os.utime(record)  # the record's mtime is the blob's last use, for least-recently-used pruning
        return True

    def _record(self, digest: Digest, stat: os.stat_result) -> None:
        self._verified.add(digest)
        write_record(self.record_path(digest), file_record(stat))

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
            fd, tmp = tempfile.mkstemp(prefix=f".incoming.{owner()}.", suffix=".partial", dir=folder)
        except OSError as exc:
            raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from exc
        try:
            yield fd, tmp
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise OutputError(f"writing {what} {digest or ''} into {folder} failed: {exc.strerror or exc}") from exc
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

        Parameters
        ----------
        digest : Digest or None
            The digest the content must have; None to name it by the digest computed.
        size : int or None
            The size the content must have; None not to check it.
        what : str, default "blob"
            What the content is, for the error messages.

        Yields
        ------
        tuple of (BinaryIO, Verifier)
            The file to write to and the verifier to feed the same bytes (``verifier.update(chunk)``).

        Raises
        ------
        VerificationError
            ``SizeMismatch`` or ``DigestMismatch``: what was written is not what was promised; nothing is kept.
        OutputError
            The store's folder cannot be created, or writing or renaming the file failed; nothing is kept.
        """
        verifier = Verifier(digest, size, what)
        with self._incoming(digest.algorithm if digest else "sha256", what, digest) as (fd, tmp):
            with os.fdopen(fd, "wb") as handle:
                yield handle, verifier
            verifier.check()
            self._placed(tmp, verifier.actual)

    def adopt_range(self, digest: Digest, source: int, offset: int, size: int) -> None:
        """Copy an already verified blob from ``source`` at ``offset`` into the store (a kernel-side copy).

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        source : int
            An open file descriptor holding the blob.
        offset : int
            Where the blob starts in ``source``.
        size : int
            The blob's size in bytes.

        Raises
        ------
        OutputError
            The copy or the store's file could not be written, or ``source`` ended early; nothing is kept.
        Cancelled
            A signal asked to stop during the copy; nothing is kept.
        """
        if self.path(digest).is_file():
            return  # another pull put it there first
        with self._incoming(digest.algorithm, "blob", digest) as (fd, tmp):
            try:
                copy_range(source, fd, size, offset)
            finally:
                os.close(fd)
            self._placed(tmp, digest)

    def adopt_file(self, digest: Digest, source: Path) -> None:
        """Hard-link an already verified blob file into the store (a copy across file systems).

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        source : pathlib.Path
            The verified blob file; a blob the store already has is left as it is.

        Warns
        -----
        CacheWarning
            The store cannot hard-link ``source``: the blob is copied, written twice.

        Raises
        ------
        OutputError
            ``source`` cannot be read, or the store's file cannot be written; nothing is kept.
        Cancelled
            A signal asked to stop during the copy; nothing is kept.
        """
        if self.path(digest).is_file():
            return
        with self._incoming(digest.algorithm, "blob", digest) as (fd, tmp):
            os.close(fd)
            try:
                os.unlink(tmp)
                os.link(source, tmp)
            except OSError as exc:
                if exc.errno in _NO_LINKS:
                    self._warn_copies(source)
                with open(source, "rb") as handle, open(tmp, "wb") as out:
                    copy_range(handle.fileno(), out.fileno(), os.fstat(handle.fileno()).st_size)
            self._placed(tmp, digest)

    def write_bytes(self, digest: Digest, data: bytes, what: str = "blob") -> Path:
        """Store a small blob held in memory.

        Parameters
        ----------
        digest : Digest
            The blob's digest.
        data : bytes
            Its content.
        what : str, default "blob"
            What it is, for the error messages.

        Returns
        -------
        pathlib.Path
            Where it is stored (:meth:`path`).

        Raises
        ------
        VerificationError
            ``data`` does not have ``digest``; nothing is kept.
        OutputError
            The store's file cannot be written.
        """
        with self.writer(digest, len(data), what) as (handle, verifier):
            verifier.update(data)
            handle.write(data)
        return self.path(digest)
