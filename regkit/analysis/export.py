"""``export``: an image's merged filesystem written into a directory, refusing anything that could leave it.

Layer contents are hostile. Before a byte is written the image is analysed and checked (see
:func:`problems`): every entry of every layer needs a relative path without ``..`` (hard-link
targets too); the merged tree may hold no device nodes or other special files; every symlink,
followed through the tree's other symlinks, must stay inside the directory; every hard link must
point at a regular file of the tree. A refusal raises :class:`~regkit.UnsafeContent` naming the entry.

Then the layers that own visible files are streamed again (verified again against their digests)
and only the final version of each path is written: whiteouts are already applied, so deleted and
overwritten bytes never reach the disk. Writing never follows a link: directories are opened one
component at a time with ``O_NOFOLLOW`` from a descriptor of the target, and files are created
with ``O_EXCL | O_NOFOLLOW``. An absolute symlink target is rewritten relative to the link, so it
points into the directory and not at the host; hard links are made last, to the final file.
Setuid and setgid bits are dropped and owners are not set (files belong to whoever exports);
modes and mtimes are kept. On any failure, everything written is removed again, and the
directory too if the export created it.
"""

from __future__ import annotations

import os
import stat
import tarfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from typing_extensions import Unpack

from .._repr import HtmlRepr
from ..errors import OutputError, UnsafeContent
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..oci.digest import Digest
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..steps.fileio import write_all
from .filesystem import Node, parts_of
from .image import ImageAnalysis, analyze
from .layers import members, open_layer, tidy

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20
_DROPPED_BITS = stat.S_ISUID | stat.S_ISGID
_SPECIAL = {"char": "character device", "block": "block device", "fifo": "FIFO", "other": "special file"}
# mtimes beyond this (year 2514) are hostile or broken; such files keep the time of writing.
_MAX_MTIME = 1 << 34


@dataclass(frozen=True)
class ExportResult(HtmlRepr):
    """What was written where: counts, bytes, the layers read again, and the modes that lost set-id bits."""

    directory: Path
    reference: Reference
    manifest_digest: Digest
    files: int
    directories: int
    symlinks: int
    hardlinks: int
    bytes: int
    layers_read: tuple[int, ...]
    dropped_setid: tuple[str, ...]
    seconds: float
    exchanges: tuple[Exchange, ...]


def problems(analysis: ImageAnalysis) -> list[str]:
    """Every reason :func:`export` would refuse this image, each naming its entry; empty when it is safe."""
    found = [f"layer {u.layer} entry {u.path!r}: {u.reason}" for u in analysis.unsafe]
    tree = analysis.filesystem
    for path, node in tree.walk():
        entry = node.entry
        where = f"layer {node.layer} entry {entry.path!r}"
        if entry.type in _SPECIAL:
            found.append(f"{where} is a {_SPECIAL[entry.type]}; device nodes and special files are not exported")
        elif entry.type == "symlink" and (not entry.link or tree.resolve(parts_of(path)[:-1], entry.link) is None):
            found.append(f"{where} is a symlink to {entry.link!r}, which leads outside the directory (or loops)")
        elif entry.type == "hardlink":
            target = tree.lookup(parts_of(tidy(entry.link)))
            if target is None or target.entry.type != "file":
                found.append(f"{where} is a hard link to {entry.link!r}, which is not a regular file of the image")
    return found


def export(
    source: ImageAnalysis | Reference | str,
    directory: str | os.PathLike[str],
    *,
    platform: Platform | str | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> ExportResult:
    """Write the merged filesystem of an image (or of an analysis already made) into a new or empty directory."""
    with client_for(client, options) as session:
        return _export(session, source, Path(directory), platform)


def _export(
    client: Client, source: ImageAnalysis | Reference | str, target: Path, platform: Platform | str | None
) -> ExportResult:
    started = time.perf_counter()
    made: tuple[Exchange, ...] = ()  # the analysis's exchanges, when it is made here
    if isinstance(source, ImageAnalysis):
        analysis = source
    else:
        analysis = analyze(as_reference(source), platform=platform, client=client)
        made = analysis.exchanges
    refused = problems(analysis)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UnsafeContent(
            f"refusing to export {analysis.reference}: {refused[0]}{more}",
            hint="nothing was written; the image holds entries that could write outside the directory",
        )
    writer = _Writer(analysis, client)
    with _target(target) as root:
        writer.write(root)
    return ExportResult(
        target,
        analysis.reference,
        analysis.manifest.digest,
        writer.counts["file"],
        writer.counts["dir"],
        writer.counts["symlink"],
        writer.counts["hardlink"],
        writer.bytes,
        writer.layers_read,
        tuple(writer.dropped),
        time.perf_counter() - started,
        (*made, *writer.exchanges),
    )


class _Writer:
    """Writes the final tree of a checked analysis below a directory descriptor."""

    def __init__(self, analysis: ImageAnalysis, client: Client) -> None:
        self.analysis = analysis
        self.client = client
        self.counts: dict[str, int] = defaultdict(int)
        self.bytes = 0
        self.dropped: list[str] = []
        self.layers_read: tuple[int, ...] = ()
        self.exchanges: list[Exchange] = []  # those of the layers streamed again

    def write(self, root: int) -> None:
        """Directories, then each layer's visible files and symlinks, then hard links, then directory modes."""
        directories, hardlinks, wanted = self._plan()
        for parts in directories:
            with _directory(root, parts[:-1]) as parent:
                os.mkdir(parts[-1], 0o700, dir_fd=parent)
        self.layers_read = tuple(sorted(wanted))
        for index in self.layers_read:
            self._write_layer(root, index, wanted[index])
        for parts, link in hardlinks:
            source = parts_of(tidy(link))
            with _directory(root, source[:-1]) as src, _directory(root, parts[:-1]) as dst:
                os.link(source[-1], parts[-1], src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
            self.counts["hardlink"] += 1
        for parts in reversed(directories):  # children first: writing into a directory changes its mtime
            entry = directories[parts].entry
            with _directory(root, parts) as fd:
                self._finish(fd, "/".join(parts), entry.mode, entry.mtime)
            self.counts["dir"] += 1

    def _plan(
        self,
    ) -> tuple[dict[tuple[str, ...], Node], list[tuple[tuple[str, ...], str]], dict[int, dict[int, tuple[str, ...]]]]:
        """The directories (parents first), the hard links and, per layer, the tar positions to write."""
        directories: dict[tuple[str, ...], Node] = {}
        hardlinks: list[tuple[tuple[str, ...], str]] = []
        wanted: dict[int, dict[int, tuple[str, ...]]] = defaultdict(dict)
        for path, node in self.analysis.filesystem.walk():
            parts = tuple(path.split("/"))
            if node.children is not None:
                directories[parts] = node
            elif node.entry.type == "hardlink":
                hardlinks.append((parts, node.entry.link))
            else:
                wanted[node.layer][node.ordinal] = parts
        return directories, hardlinks, wanted

    def _write_layer(self, root: int, index: int, wanted: dict[int, tuple[str, ...]]) -> None:
        """Stream one layer again and write the members that are visible in the final tree."""
        report = self.analysis.layers[index]
        token = self.analysis.manifest.token
        with open_layer(
            self.client,
            self.analysis.reference,
            report.descriptor,
            token,
            self.exchanges,
            index=index,
            diff_id=report.diff_id,
        ) as (tar, _):
            for ordinal, info in enumerate(members(tar)):
                parts = wanted.get(ordinal)
                if parts is not None:
                    with _directory(root, parts[:-1]) as parent:
                        self._write_member(parent, parts, tar, info)

    def _write_member(self, parent: int, parts: tuple[str, ...], tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        if info.issym():
            os.symlink(_relative_link(parts, info.linkname), parts[-1], dir_fd=parent)
            self.counts["symlink"] += 1
            return
        source = tar.extractfile(info)
        fd = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            self.bytes += _copy(source, fd) if source is not None else 0
            self._finish(fd, "/".join(parts), info.mode, info.mtime)
        finally:
            os.close(fd)
        self.counts["file"] += 1

    def _finish(self, fd: int, path: str, mode: int, mtime: float) -> None:
        """Mode without set-id bits, and the mtime when it is sane."""
        if mode & _DROPPED_BITS:
            self.dropped.append(path)
        os.fchmod(fd, stat.S_IMODE(mode) & ~_DROPPED_BITS)
        if 0 <= mtime < _MAX_MTIME:
            os.utime(fd, ns=(int(mtime * 1e9),) * 2)


def _copy(source: IO[bytes], fd: int) -> int:
    count = 0
    while chunk := source.read(_CHUNK):
        write_all(fd, chunk)
        count += len(chunk)
    return count


def _relative_link(parts: tuple[str, ...], link: str) -> str:
    """An absolute target made relative to the link's directory, so it resolves inside the export."""
    if not link.startswith("/"):
        return link
    return "../" * (len(parts) - 1) + link.lstrip("/") or "."


@contextmanager
def _directory(root: int, parts: tuple[str, ...]) -> Iterator[int]:
    """A descriptor of the directory ``parts`` below ``root``, opened a component at a time, never through a link."""
    fd = os.dup(root)
    try:
        for name in parts:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _target(directory: Path) -> Iterator[int]:
    """A descriptor of the export directory, new or empty; on failure it is emptied, and removed if new."""
    try:
        os.mkdir(directory, 0o755)
        created = True
    except FileExistsError:
        if not directory.is_dir() or any(directory.iterdir()):
            raise OutputError(f"{directory} exists and is not an empty directory") from None
        created = False
    except OSError as exc:
        raise OutputError(f"cannot create {directory}: {exc.strerror or exc}") from None
    root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield root
    except BaseException as exc:
        _empty(root)
        if created:
            os.rmdir(directory)
        if isinstance(exc, OSError):
            raise OutputError(f"exporting into {directory} failed: {exc.strerror or exc}") from None
        raise
    finally:
        os.close(root)


def _empty(root: int) -> None:
    """Remove everything below a directory descriptor without following links, holding one descriptor at a time."""
    fd = os.dup(root)
    below: list[str] = []  # names from the root down to ``fd``: a hostile tree may be deeper than the fd limit
    try:
        while True:
            subdirectory = None
            for name in os.listdir(fd):
                if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    subdirectory = name
                else:
                    os.unlink(name, dir_fd=fd)
            if subdirectory is not None:
                child = os.open(subdirectory, _DIR_FLAGS, dir_fd=fd)
                below.append(subdirectory)
            elif below:
                child = os.open("..", _DIR_FLAGS, dir_fd=fd)
                os.rmdir(below.pop(), dir_fd=child)
            else:
                return
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
