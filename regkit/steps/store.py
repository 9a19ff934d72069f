"""A content-addressed blob directory whose files appear only once complete and verified."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import OutputError
from ..oci.digest import Digest, Verifier


class BlobStore:
    """``root/blobs/<algorithm>/<hex>``: written through a temporary file, renamed when verified.

    A store regkit made for one pull is ``trusted``: its files were verified as they were written.
    Any other directory (a ``--cache-dir``, a folder of a notebook) may have been changed since, so
    a blob found there is hashed once before it is used, and removed if it no longer matches.
    """

    def __init__(self, root: str | os.PathLike[str], *, trusted: bool = False) -> None:
        self.root = Path(root)
        self.trusted = trusted
        self._verified: set[Digest] = set()

    def path(self, digest: Digest) -> Path:
        """Where the blob with ``digest`` lives (the digest was validated, so it is a safe file name)."""
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has(self, digest: Digest, size: int) -> bool:
        """True when the blob is present with the right size and (unless trusted) the right digest."""
        path = self.path(digest)
        if not path.is_file() or path.stat().st_size != size:
            return False
        if self.trusted or digest in self._verified:
            return True
        verifier = Verifier(digest, size, "cached blob")
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                verifier.update(chunk)
        if verifier.actual != digest:
            path.unlink(missing_ok=True)  # corrupt: fetch it again rather than use it
            return False
        self._verified.add(digest)
        return True

    @contextmanager
    def writer(
        self, digest: Digest | None, size: int | None, what: str = "blob"
    ) -> Iterator[tuple[BinaryIO, Verifier]]:
        """A temporary file and a verifier; on a clean exit the file is checked and renamed into place.

        With ``digest=None`` the content is named by the digest computed while writing.
        """
        folder = self.root / "blobs" / (digest.algorithm if digest else "sha256")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".incoming.", suffix=".partial", dir=folder)
        except OSError as exc:
            raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
        verifier = Verifier(digest, size, what)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle, verifier
            verifier.check()
            final = self.path(verifier.actual)
            self._verified.add(verifier.actual)
            # Concurrent pulls may race to the same digest: both files are verified and identical.
            os.replace(tmp, final)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise OutputError(f"writing {what} {digest or ''} into {folder} failed: {exc.strerror or exc}") from None
        except BaseException:
            # BaseException too: Ctrl-C must not leave a partial file behind.
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_bytes(self, digest: Digest, data: bytes, what: str = "blob") -> Path:
        """Store a small blob held in memory."""
        with self.writer(digest, len(data), what) as (handle, verifier):
            verifier.update(data)
            handle.write(data)
        return self.path(digest)
