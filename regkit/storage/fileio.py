"""Whole writes, range reads and kernel-side copies between file descriptors."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

from ..errors import OutputError
from .interrupt import checkpoint

_COPY_CHUNK = 1 << 20
# One copy_file_range call at most: a whole multi-GiB blob in one call would not look at a signal for seconds.
_KERNEL_CHUNK = 64 << 20


def copy_range(
    source: int, target: int, size: int, source_offset: int | None = None, target_offset: int | None = None
) -> None:
    """Copy ``size`` bytes in the kernel (copy_file_range), falling back to read/write where unsupported.

    Without offsets both files' positions are used and advanced; with one, that file is read or
    written at the offset and its position is left alone. A pending signal stops it between chunks.
    """
    left = size
    try:
        while left:
            checkpoint()
            copied = os.copy_file_range(source, target, min(left, _KERNEL_CHUNK), source_offset, target_offset)
            if copied == 0:
                raise OutputError(f"a blob file ended {left} bytes early while copying it")
            left -= copied
            source_offset = None if source_offset is None else source_offset + copied
            target_offset = None if target_offset is None else target_offset + copied
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while left:
            checkpoint()
            want = min(left, _COPY_CHUNK)
            chunk = os.read(source, want) if source_offset is None else os.pread(source, want, source_offset)
            if not chunk:
                raise OutputError(f"a blob file ended {left} bytes early while copying it") from None
            if target_offset is None:
                write_all(target, chunk)
            else:
                write_all_at(target, chunk, target_offset)
                target_offset += len(chunk)
            source_offset = None if source_offset is None else source_offset + len(chunk)
            left -= len(chunk)


def write_all(fd: int, data: bytes) -> None:
    """os.write until everything is written (it may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_all_at(fd: int, data: bytes | memoryview, offset: int) -> None:
    """os.pwrite until everything is written at ``offset`` (the file's position is not used)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def chunks_at(fd: int, offset: int, size: int, chunk: int = 4 << 20) -> Iterator[bytes]:
    """``size`` bytes of ``fd`` from ``offset`` in large reads (fewer when the file ends first); a pending
    signal stops it between reads."""
    end = offset + size
    while offset < end and (data := os.pread(fd, min(chunk, end - offset), offset)):
        offset += len(data)
        yield data
        checkpoint()
