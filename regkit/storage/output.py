"""Where a pull may write: the ``-o`` target checked before any request, and work left by dead pulls removed.

A pull writes into a hidden work directory beside the target and renames the result over it at
the end; as root, a rename over a device node or through a symlink would replace ``/dev/null``
or the link's target. Only a missing path or a regular file may be replaced (an OCI layout
directory too is written only where nothing is yet).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import InvalidOption, OutputError

WORK_PREFIX = ".regkit-"
# .regkit-<pid>-<random>: the pid says whether the pull that made it still runs.
_WORK_DIR = re.compile(rf"{re.escape(WORK_PREFIX)}(?P<pid>[0-9]{{1,10}})-[A-Za-z0-9_]+")


def check_target(output: str | os.PathLike[str]) -> Path:
    """``output`` as a path, refused unless it is missing or a regular file."""
    if not os.fspath(output):
        raise InvalidOption("the output path is empty; give a file name with -o")
    path = Path(output)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise OutputError(f"cannot check the output path {path}: {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return path
    kind = _kind(mode)
    raise OutputError(
        f"the output path {path} already exists and is {kind}; regkit replaces only a regular file",
        hint="name a new file with -o" if not stat.S_ISDIR(mode) else "name a file inside it with -o",
    )


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def make_work_dir(parent: Path) -> Path:
    """A fresh hidden work directory in ``parent``, named after this process; stale ones are removed first."""
    remove_stale_work_dirs(parent)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=parent.resolve()))
    except OSError as exc:
        raise OutputError(f"cannot create a work directory in {parent}: {exc.strerror or exc}") from None


def work_name(parent: Path) -> Path:
    """A fresh hidden name in ``parent`` for a partial output, named after this process; stale ones are removed."""
    remove_stale_work_dirs(parent)
    return parent / f"{WORK_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"


def remove_stale_work_dirs(parent: Path) -> list[Path]:
    """Remove work directories and partial outputs in ``parent`` whose pull has died; the ones removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        match = _WORK_DIR.fullmatch(entry.name)
        # Never follow a link, never touch another user's directory or a live pull's.
        if match is None or _alive(int(match["pid"])):
            continue
        try:
            if entry.is_symlink() or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue  # gone since the scan: a concurrent pull renamed its output into place
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        removed.append(Path(entry.path))
    return removed


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from /proc); None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name in parentheses may hold anything
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _pid_namespace() -> int:
    """The PID namespace this process sees (its inode; 0 where /proc does not say)."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def owner() -> str:
    """This process as the owner of a temporary file: ``<pid>-<start time>-<PID namespace>``.

    A PID alone is reused; the start time tells a reused one, and the namespace says whether the PID
    means anything here (a container sharing the cache counts its processes in a namespace of its own).
    """
    pid = os.getpid()
    return f"{pid}-{process_start(pid) or 0}-{_pid_namespace()}"


def owner_alive(pid: int, start: int, namespace: int) -> bool | None:
    """Whether the process that named itself ``<pid>-<start>-<namespace>`` runs; None when this one cannot tell."""
    if namespace != _pid_namespace():
        return None  # its PIDs are not ours to look up
    if not os.path.isdir("/proc/self"):
        return _alive(pid)
    return process_start(pid) == start


def _alive(pid: int) -> bool:
    """True if a process with this id exists (a reused id keeps a directory: the safe mistake)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def keep_file(path: Path, parts: Iterable[bytes]) -> bool:
    """Write ``parts`` to ``path`` whole or not at all (a temporary file naming its writer, then a rename).

    For what the cache keeps beside the blobs (listings, merged results): False when it cannot be
    written (a read-only or full cache), which only costs the time it would have saved.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".incoming.{owner()}.", suffix=".partial", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            for part in parts:
                handle.write(part)
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):
            return False
        raise
    return True
