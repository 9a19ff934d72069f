"""``export``: an image's merged filesystem written into a directory, refusing anything that could leave it.

Layer contents are hostile. Before a byte is written the image is analysed and checked (see
:func:`problems`): every entry of every layer needs a relative path without ``..`` (hard-link
targets too); the merged tree may hold no device nodes or other special files; every symlink,
followed through the tree's other symlinks, must stay inside the directory; every hard link must
point at a regular file of the tree. A refusal raises :class:`~regkit.UnsafeContent` naming the entry.

Then the layers that own visible files are streamed again (verified again against their digests)
and only the final version of each path is written: whiteouts are already applied, so deleted and
overwritten bytes never reach the disk. The second reading is not trusted either: each member
written must be the entry the analysis checked (type, size, mode, link target), and a symlink's
target is checked again before it is made. Writing never follows a link: directories are opened
one component at a time with ``O_NOFOLLOW`` from a descriptor of the target, and files are
created with ``O_EXCL | O_NOFOLLOW``. Directories are made and finished in one walk of the tree
that holds a single descriptor, going down by name and up by ``..``, so a deep tree costs its
number of directories, not their depth squared. A sparse file's holes are left unwritten. An
absolute symlink target is rewritten relative to the link, so it points into the directory and
not at the host; hard links are made last, to the final file. Setuid and setgid bits are dropped
and owners are not set (files belong to whoever exports); modes and mtimes are kept. On any
failure, everything written is removed again, and the directory too if the export created it.
"""

from __future__ import annotations

import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._repr import HtmlRepr
from ..errors import OutputError, UnsafeContent, VerificationError
from ..http.client import Client, ClientOptions, as_reference, client_for
from ..http.exchange import Exchange
from ..oci.budgets import Budgets, Meter
from ..oci.digest import Digest
from ..oci.platform import Platform
from ..oci.reference import Reference
from ..storage.fileio import write_all_at
from .filesystem import Filesystem, Node, parts_of
from .image import ImageAnalysis, analyze
from .layers import open_layer
from .tarscan import Member, TarReader, entry_of, tidy

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Unpack

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DROPPED_BITS = stat.S_ISUID | stat.S_ISGID
_SPECIAL = {"char": "character device", "block": "block device", "fifo": "FIFO", "other": "special file"}
# mtimes beyond this (year 2514) are hostile or broken; such files keep the time of writing.
_MAX_MTIME = 1 << 34
# Paths in messages are cut here: a hostile one can be megabytes long.
_SHOWN = 200


@dataclass(frozen=True)
class ExportResult(HtmlRepr):
    """What :func:`export` wrote.

    Attributes
    ----------
    directory : Path
        The directory written.
    reference : Reference
        The image.
    manifest_digest : Digest
        The image manifest's digest.
    files, directories, symlinks, hardlinks : int
        How many of each were written.
    bytes : int
        The bytes of the files written.
    layers_read : tuple of int
        The layers read (those with nothing left in the merged tree are skipped).
    dropped_setid : tuple of str
        The paths whose set-user-ID or set-group-ID bit was not written.
    seconds : float
        The time it took.
    exchanges : tuple of Exchange
        The HTTP exchanges that produced it, redacted, in order.
    """

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


def shown(path: str) -> str:
    """A path for a message, cut short when it is very long."""
    return path if len(path) <= _SHOWN else f"{path[:_SHOWN]}…({len(path)} characters)"


def _escapes(tree: Filesystem, path: str, link: str) -> bool:
    """True when a symlink at ``path`` to ``link`` leads outside the tree (or loops)."""
    return not link or tree.resolve(parts_of(path)[:-1], link) is None


def problems(analysis: ImageAnalysis) -> list[str]:
    """Every reason :func:`export` would refuse this image, each naming its entry; empty when it is safe.

    Parameters
    ----------
    analysis : ImageAnalysis
        The image's analysis.

    Returns
    -------
    list of str
        One line per unsafe entry.

    Raises
    ------
    RegkitError
        Never for an analysis :func:`analyze` made; listed for the type checker's sake only.
    """
    found = [f"layer {u.layer} entry {shown(u.path)!r}: {u.reason}" for u in analysis.unsafe]
    tree = analysis.filesystem
    for path, node in tree.walk():
        entry = node.entry
        where = f"layer {node.layer} entry {shown(entry.path)!r}"
        if entry.type in _SPECIAL:
            found.append(f"{where} is a {_SPECIAL[entry.type]}; device nodes and special files are not exported")
        elif entry.type == "symlink" and _escapes(tree, path, entry.link):
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
    budgets: Budgets | None = None,
    client: Client | None = None,
    **options: Unpack[ClientOptions],
) -> ExportResult:
    """Write the merged filesystem of an image (or of an analysis already made) into a new or empty directory.

    Parameters
    ----------
    source : ImageAnalysis or Reference or str
        The image, or its analysis (its layers are read a second time, to write them).
    directory : str or os.PathLike
        A new or empty directory; nothing is written outside it.
    platform : Platform or str, optional
        The platform to pick from an index; default the host's.
    budgets : Budgets, optional
        Bounds what the layers may cost when read (the defaults are far above any real image).
    client : Client, optional
        The client to use (kept open); else one is made from ``options``.
    **options : ClientOptions
        Settings for a client made for this call and closed after it (see :class:`~regkit.Client`); not
        together with ``client``.

    Returns
    -------
    ExportResult
        What was written: files, directories, links, bytes, and set-id bits dropped.

    Raises
    ------
    UnsafeContent
        An entry would write outside ``directory`` (see :func:`problems`); nothing is written.
    OutputError
        ``directory`` is not empty or cannot be written.
    VerificationError
        A layer's bytes do not match its digest, or a budget is exceeded (``BudgetExceeded``).
    RegistryError
        The registry answered, but not as the protocol promises (``AuthError``, ``NotFound``, …).
    TransportError
        No HTTP answer: DNS, refused, TLS, timeout, too slow.
    UsageError
        A bad argument, such as an invalid reference, or ``client`` together with client options.
    """
    with client_for(client, options) as session:
        return _export(session, source, Path(directory), platform, budgets)


def _export(
    client: Client,
    source: ImageAnalysis | Reference | str,
    target: Path,
    platform: Platform | str | None,
    budgets: Budgets | None,
) -> ExportResult:
    started = time.perf_counter()
    made: tuple[Exchange, ...] = ()  # the analysis's exchanges, when it is made here
    if isinstance(source, ImageAnalysis):
        analysis = source
    else:
        analysis = analyze(as_reference(source), platform=platform, client=client, budgets=budgets)
        made = analysis.exchanges
    refused = problems(analysis)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UnsafeContent(
            f"refusing to export {analysis.reference}: {refused[0]}{more}",
            hint="nothing was written; the image holds entries that could write outside the directory",
        )
    writer = _Writer(analysis, client, budgets)
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

    def __init__(self, analysis: ImageAnalysis, client: Client, budgets: Budgets | None = None) -> None:
        self.analysis = analysis
        self.client = client
        self.budgets = budgets
        self.exchanges: list[Exchange] = []  # those of the layers streamed again
        self.counts: dict[str, int] = defaultdict(int)
        self.bytes = 0
        self.dropped: list[str] = []
        self.layers_read: tuple[int, ...] = ()

    def write(self, root: int) -> None:
        """Directories, then each layer's visible files and symlinks, then hard links, then directory modes."""
        hardlinks, wanted = self._plan()
        top = self.analysis.filesystem.root
        for _ in _directories(root, top, create=True):
            pass
        self.layers_read = tuple(sorted(wanted))
        for index in self.layers_read:
            self._write_layer(root, index, wanted[index])
        for path, link in hardlinks:
            parts, source = tuple(path.split("/")), parts_of(tidy(link))
            with _named(path), _directory(root, source[:-1]) as src, _directory(root, parts[:-1]) as dst:
                os.link(source[-1], parts[-1], src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
            self.counts["hardlink"] += 1
        for fd, names, node in _directories(root, top, create=False):  # children first: writing changes mtimes
            self._finish(fd, names, node.entry.mode, node.entry.mtime)
            self.counts["dir"] += 1

    def _plan(self) -> tuple[list[tuple[str, str]], dict[int, dict[int, tuple[str, Node]]]]:
        """The hard links, and per layer the tar positions to write with their paths and nodes."""
        hardlinks: list[tuple[str, str]] = []
        wanted: dict[int, dict[int, tuple[str, Node]]] = defaultdict(dict)
        for path, node in self.analysis.filesystem.walk():
            if node.children is not None:
                continue
            if node.entry.type == "hardlink":
                hardlinks.append((path, node.entry.link))
            else:
                wanted[node.layer][node.ordinal] = (path, node)
        return hardlinks, wanted

    def _write_layer(self, root: int, index: int, wanted: dict[int, tuple[str, Node]]) -> None:
        """Stream one layer again and write the members that are visible in the final tree."""
        report = self.analysis.layers[index]
        token = self.analysis.manifest.token
        parent = _Parent(root)
        try:
            with open_layer(
                self.client,
                self.analysis.reference,
                report.descriptor,
                token,
                self.exchanges,
                index=index,
                diff_id=report.diff_id,
                meter=Meter(self.budgets),
            ) as (tar, _):
                for ordinal, info in enumerate(tar):
                    if ordinal in wanted:
                        path, node = wanted[ordinal]
                        self._check(index, path, node, info)
                        with _named(path):
                            self._write_member(parent.of(path), path, tar, info)
        finally:
            parent.close()

    def _check(self, index: int, path: str, node: Node, info: Member) -> None:
        """Refuse a member that is not the entry the analysis checked, or a symlink that now leads outside."""
        entry, again = node.entry, entry_of(info)
        fields = ("path", "type", "size", "mode", "link")
        changed = [name for name in fields if getattr(entry, name) != getattr(again, name)]
        if changed:
            raise VerificationError(
                f"layer {index} changed between its two readings: entry {shown(path)!r} "
                f"({', '.join(changed)}) is not what the analysis checked; nothing of it is written"
            )
        if again.type == "symlink" and _escapes(self.analysis.filesystem, path, again.link):
            raise UnsafeContent(
                f"layer {index} entry {shown(path)!r} is a symlink to {again.link!r}, which leads outside"
            )
        if again.type != "file" and again.type != "symlink":
            raise UnsafeContent(f"layer {index} entry {shown(path)!r} is a {again.type}, which export does not write")

    def _write_member(self, parent: int, path: str, tar: TarReader, info: Member) -> None:
        parts = path.split("/")
        if info.kind == "symlink":
            os.symlink(_relative_link(parts, info.link), parts[-1], dir_fd=parent)
            self.counts["symlink"] += 1
            return
        fd = os.open(parts[-1], _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            _copy(tar, fd, info)
            self.bytes += info.size
            self._finish(fd, parts, info.mode, info.mtime)
        finally:
            os.close(fd)
        self.counts["file"] += 1

    def _finish(self, fd: int, parts: list[str], mode: int, mtime: float) -> None:
        """Mode without set-id bits, and the mtime when it is sane."""
        if mode & _DROPPED_BITS:
            self.dropped.append("/".join(parts))
        os.fchmod(fd, stat.S_IMODE(mode) & ~_DROPPED_BITS)
        if 0 <= mtime < _MAX_MTIME:
            os.utime(fd, ns=(int(mtime * 1e9),) * 2)


class _Parent:
    """A descriptor of the directory of the last member written, kept for the next one in the same directory."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.path: str | None = None
        self.fd = -1

    def of(self, path: str) -> int:
        """A descriptor of the directory holding ``path``."""
        directory = path.rpartition("/")[0]
        if directory != self.path:
            self.close()
            with _directory(self.root, tuple(parts_of(directory))) as fd:
                self.fd = os.dup(fd)
            self.path = directory
        return self.fd

    def close(self) -> None:
        """Let go of the descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.path = -1, None


@contextmanager
def _named(path: str) -> Iterator[None]:
    """An ``OSError`` inside names the entry being written (the system names only the last component)."""
    try:
        yield
    except OSError as exc:
        exc.filename = path
        raise


def _directories(root: int, top: Node, *, create: bool) -> Iterator[tuple[int, list[str], Node]]:
    """Every directory below ``top``, children first, each with a descriptor of it and its path's names.

    One descriptor walks the tree: down by name (``O_NOFOLLOW``), back up by ``..`` (a directory
    has exactly one parent, and this one was made by the export), so each directory is opened once
    whatever its depth. With ``create`` each is made on the way down.
    """
    fd, above = os.dup(root), -1
    names: list[str] = []
    nodes = [top]
    pending = [_subdirectories(top)]
    try:
        while pending:
            step = next(pending[-1], None)
            if step is not None:
                name, node = step
                try:
                    if create:
                        os.mkdir(name, 0o700, dir_fd=fd)
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:  # the path is joined only now: joining it for every directory costs d²
                    exc.filename = "/".join([*names, name])
                    raise
                os.close(fd)
                fd = child
                names.append(name)
                nodes.append(node)
                pending.append(_subdirectories(node))
                continue
            pending.pop()
            if not names:
                return
            above = os.open("..", _DIR_FLAGS, dir_fd=fd)
            yield fd, names, nodes.pop()
            names.pop()
            os.close(fd)
            fd, above = above, -1
    finally:
        os.close(fd)
        if above >= 0:
            os.close(above)


def _subdirectories(node: Node) -> Iterator[tuple[str, Node]]:
    return ((name, child) for name, child in (node.children or {}).items() if isinstance(child, Node))


def _copy(tar: TarReader, fd: int, info: Member) -> None:
    """A member's content into ``fd``; of a sparse file only its data regions, the holes left as holes."""
    for offset, piece in tar.content(info):
        if offset < info.size:
            write_all_at(fd, piece[: info.size - offset], offset)
    os.ftruncate(fd, info.size)


def _relative_link(parts: list[str], link: str) -> str:
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
            where = f" at entry {shown(str(exc.filename))!r}" if exc.filename else ""
            raise OutputError(f"exporting into {directory} failed{where}: {exc.strerror or exc}") from None
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
