"""Whole writes and kernel-side copies between file descriptors."""

from __future__ import annotations

import errno
import os

from ..errors import OutputError


def copy_range(source: int, target: int, size: int) -> None:
    """Copy ``size`` bytes in the kernel (copy_file_range), falling back to read/write where unsupported."""
    left = size
    try:
        while left:
            copied = os.copy_file_range(source, target, left)
            if copied == 0:
                raise OutputError(f"a blob file ended {left} bytes early while writing the tar")
            left -= copied
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while left:
            chunk = os.read(source, min(left, 1 << 20))
            if not chunk:
                raise OutputError(f"a blob file ended {left} bytes early while writing the tar") from None
            write_all(target, chunk)
            left -= len(chunk)


def write_all(fd: int, data: bytes) -> None:
    """os.write until everything is written (it may write less than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
