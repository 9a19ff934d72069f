"""A content-addressed blob directory whose files appear only once complete and verified."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .digest import Digest, Verifier
from .errors import OutputError


class BlobStore:
    """``root/blobs/<algorithm>/<hex>``: written through a temporary file, renamed when verified."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, digest: Digest) -> Path:
        """Where the blob with ``digest`` lives (the digest was validated, so it is a safe file name)."""
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has(self, digest: Digest, size: int) -> bool:
        """True when a complete blob is present (files only ever appear complete and verified)."""
        path = self.path(digest)
        return path.is_file() and path.stat().st_size == size

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
