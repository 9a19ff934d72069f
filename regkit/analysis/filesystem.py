"""The merged filesystem: layers applied in order with OCI whiteouts, and the bytes the layering wastes.

Applying a layer (OCI image spec, "Applying Changesets", with the AUFS whiteouts Docker writes):

- ``dir/.wh.NAME`` removes ``dir/NAME``, and everything below it, that lower layers put there;
- ``dir/.wh..wh..opq`` (an opaque directory) removes everything lower layers put below ``dir``;
- whiteouts act on lower layers only, so a layer's whiteouts are applied before its other entries;
- an entry replaces whatever is at its path, except that a directory over a directory keeps what
  is below it, and a path below a non-directory turns that non-directory into a directory. Paths
  are taken literally: a symlinked directory is not followed (dive does the same);
- entries with an absolute path, ``..`` or a NUL (and hard links to such names) are listed but kept
  out of the tree, as :attr:`Filesystem.unsafe`.

Waste and efficiency count regular-file content only (directories, links and tar headers weigh
nothing)::

    written    = the sizes of all regular files of all layers, added up
    wasted     = the sizes of the files that a higher layer (or a later entry of the same layer)
                 overwrites or deletes, added up: bytes downloaded and stored that nobody sees
    final      = the sizes of the regular files of the merged tree = written - wasted
    efficiency = final / written = 1 - wasted / written        (1.0 when nothing is written)

dive scores each path by its smallest version over the sum of its versions and counts every
version of a path that appears more than once as wasted, the visible one included; regkit counts
only the versions nobody can see, so ``wasted`` is what a build that never wrote them would save.

The tree stores each path component once, in its parent's ``children``: a path is where
:meth:`Filesystem.walk` finds its node, and a directory that only paths below it imply has the
shared entry :data:`IMPLIED` (empty path). A path ``a/a/…/a`` of depth d so costs d nodes, not d²
bytes; the full paths a listing would print are charged to the ``path_bytes`` budget as they are placed.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..oci.budgets import Meter
from .entries import DIR, FILE, KIND_CODE, Entries, FileEntry, as_entries
from .tarscan import tidy

OPAQUE = ".wh..wh..opq"
WHITEOUT = ".wh."
# Names AUFS keeps for itself (hard-link and bookkeeping directories): not part of the image.
AUFS_META = ".wh..wh."
MAX_LINK_HOPS = 40  # the kernel's ELOOP limit


class Waste(NamedTuple):
    """Bytes shipped in one layer and overwritten or deleted by a later one.

    Attributes
    ----------
    path : str
        The path.
    size : int
        The bytes wasted.
    layer : int
        The layer that shipped them.
    removed_in : int
        The layer that overwrote or deleted them.
    how : str
        ``overwritten`` or ``deleted``.
    """

    path: str
    size: int
    layer: int
    removed_in: int
    how: str  # overwritten or deleted


class Unsafe(NamedTuple):
    """An entry :func:`export` refuses: it would write outside the target directory.

    Attributes
    ----------
    layer : int
        The layer it is in.
    path : str
        The entry's path.
    reason : str
        Why it is refused.
    """

    layer: int
    path: str
    reason: str


@dataclass
class LayerChange:
    """What one layer did to the merged tree.

    Attributes
    ----------
    layer : int
        The layer's index.
    added, modified, deleted : int
        How many paths it added, changed and removed.
    added_bytes, modified_bytes, deleted_bytes : int
        Their bytes.
    """

    layer: int
    added: int = 0
    added_bytes: int = 0
    modified: int = 0
    modified_bytes: int = 0
    deleted: int = 0
    deleted_bytes: int = 0


@dataclass(slots=True)
class Node:
    """A path of the merged tree: its entry, its origin (layer, position in that tar), children if a directory.

    A directory that no tar member describes has the entry :data:`IMPLIED` and ordinal -1. The
    tree keeps a node only for each directory; other paths are held as a number and made into a
    node when asked for (:meth:`Filesystem.walk`, :meth:`Filesystem.lookup`).
    """

    entry: FileEntry
    layer: int
    ordinal: int  # -1 for a directory that only a path below it implies
    children: dict[str, Node | int] | None = None


def parts_of(path: str) -> tuple[str, ...]:
    """The components of a relative path, without empty and ``.`` components."""
    parts = path.split("/")
    if "" in parts or "." in parts:
        return tuple(p for p in parts if p not in ("", "."))
    return tuple(parts)


def _tidy(path: str) -> bool:
    """Whether splitting ``path`` at each ``/`` gives its components (no empty or ``.`` one: a quick test)."""
    return bool(path) and path != "." and "//" not in path and "/." not in path and path[:2] != "./" and path[-1] != "/"


def unsafe_reason(entry: FileEntry) -> str | None:
    """Why an entry cannot be placed below the root, or None when it can."""
    return _unsafe(entry.path, entry.type == "hardlink", entry.link)


def _unsafe(path: str, hardlink: bool, link: str) -> str | None:
    if not hardlink and path[:1] != "/" and ".." not in path and "\0" not in path:
        return None  # the usual entry, in one test
    names = [("path", path)]
    if hardlink:
        names.append(("hard link target", tidy(link)))
    for what, name in names:
        if name.startswith("/"):
            return f"absolute {what}"
        if ".." in name.split("/"):
            return f"'..' in the {what}"
        if "\0" in name:
            return f"NUL byte in the {what}"
    return None


# The entry of every directory no tar member describes (its path is where the tree holds it).
IMPLIED = FileEntry("", "dir", 0, 0o755, 0, 0, 0, "", "")
_HARDLINK = KIND_CODE["hardlink"]
# A path that is not a directory is held as ``layer << _SHIFT | ordinal``: an int, not a node.
_SHIFT = 32
_ORDINAL = (1 << _SHIFT) - 1


# Where a path cannot start if it is tidy and relative ("" is no path; "." is the root; "/" absolute).
_NOT_PLAIN_START = ("", ".", "/")


# No directory at hand: the root stands in, under a key no path has.
_NOWHERE: tuple[None, Node, int] = (None, Node(IMPLIED, -1, -1, {}), -1)


class Filesystem:
    """The merged tree, built by :meth:`apply` on each layer bottom first, with its changes and waste.

    Parameters
    ----------
    meter : Meter, optional
        Charged the full path of every node placed (the ``path_bytes`` budget); default unlimited.
    """

    def __init__(self, meter: Meter | None = None) -> None:
        self.root = Node(IMPLIED, -1, -1, {})
        self.changes: list[LayerChange] = []
        self.waste: list[Waste] = []
        self.unsafe: list[Unsafe] = []
        self.written_bytes = 0
        self.meter = meter or Meter()
        # Per layer: its entries (for the nodes made on demand), and the types and sizes merging and
        # waste need, kept apart so that the entries can be handed back (see :meth:`hold`).
        self._layers: dict[int, Entries] = {}
        self._kinds: dict[int, bytes | bytearray] = {}
        self._sizes: dict[int, array[int]] = {}
        self._last: tuple[str | None, Node, int] = _NOWHERE  # the directory of the last entry placed

    def apply(self, layer: int, entries: Sequence[FileEntry]) -> LayerChange:
        """Apply one layer's entries: its whiteouts first, then the rest in tar order.

        Parameters
        ----------
        layer : int
            The layer's index (layers are applied bottom first).
        entries : sequence of FileEntry
            Its entries in tar order (:class:`~regkit.analysis.entries.Entries` as a layer is listed).

        Returns
        -------
        LayerChange
            What the layer added, modified and deleted.

        Raises
        ------
        BudgetExceeded
            The merged tree's paths pass the ``path_bytes`` budget.
        """
        change = LayerChange(layer)
        entries = self._layers[layer] = as_entries(entries)
        sizes = self._sizes[layer] = entries.sizes()
        kinds = self._kinds[layer] = entries.kinds
        links = entries.links
        paths = entries.path_list()
        # Ordinals of the entries to place after the whiteouts.
        placed: list[int] = []
        for ordinal, path in enumerate(paths):
            # The usual entry, told in one expression (what _unsafe and _tidy ask, without two calls:
            # this loop runs once per tar member).
            if (
                path[:1] not in _NOT_PLAIN_START
                and ".." not in path
                and "\0" not in path
                and WHITEOUT not in path
                and "//" not in path
                and "/." not in path
                and path[-1] != "/"
                and kinds[ordinal] != _HARDLINK
            ):
                placed.append(ordinal)
                continue
            reason = _unsafe(path, kinds[ordinal] == _HARDLINK, links.get(ordinal, ""))
            if reason is None and WHITEOUT not in path and _tidy(path):
                placed.append(ordinal)
                continue
            parts = parts_of(path)
            if reason is not None:
                self.unsafe.append(Unsafe(layer, path, reason))
            elif not parts:
                continue  # the root directory itself
            elif not parts[-1].startswith(WHITEOUT):
                placed.append(ordinal)
            elif parts[-1] == OPAQUE:
                opaque = self._directory(parts[:-1])
                for name in list(opaque.children or {}) if opaque else []:
                    self._remove((*parts[:-1], name), layer, change)
            elif not parts[-1].startswith(AUFS_META):
                self._remove((*parts[:-1], parts[-1][len(WHITEOUT) :]), layer, change)
        code = layer << _SHIFT
        charge = self.meter.paths
        for ordinal in placed:
            path = paths[ordinal]
            if _tidy(path):
                cut = path.rfind("/")
                directory, name = path[:cut] if cut > 0 else "", path[cut + 1 :]
            else:
                parts = parts_of(path)
                directory, name = "/".join(parts[:-1]), parts[-1]
            size = sizes[ordinal]
            last = self._last
            if directory == last[0] and kinds[ordinal] != DIR:
                children = last[1].children
                assert children is not None
                if name not in children:  # a new file beside the last one: _put's usual case, without the call
                    charge(last[2] + 1 + len(name))
                    change.added += 1
                    change.added_bytes += size
                    children[name] = code | ordinal
                    self.written_bytes += size
                    continue
            held = Node(entries[ordinal], layer, ordinal, {}) if kinds[ordinal] == DIR else code | ordinal
            self._put(directory, name, held, size, change)
        self.changes.append(change)
        return change

    def hold(self, layer: int, entries: Entries) -> None:
        """Hold ``entries`` for ``layer`` instead of those it was applied with (the same, kept and loaded on demand).

        The paths and digests of a layer are most of its columns and merging no longer needs them once
        the layer is applied; a node of the layer asked for later loads them again.

        Parameters
        ----------
        layer : int
            A layer applied before.
        entries : Entries
            The same entries, e.g. :meth:`~regkit.analysis.entries.Entries.kept` ones.
        """
        self._layers[layer] = entries

    def node(self, held: Node | int) -> Node:
        """The node of what the tree holds at a path: a directory's own, or one made for anything else.

        Parameters
        ----------
        held : Node or int
            What a directory's ``children`` holds under a name.

        Returns
        -------
        Node
            The node, with the entry the path's tar member lists.
        """
        if isinstance(held, Node):
            return held
        layer, ordinal = held >> _SHIFT, held & _ORDINAL
        return Node(self._layers[layer][ordinal], layer, ordinal)

    def lookup(self, parts: Sequence[str]) -> Node | None:
        """The node at ``parts``, or None.

        Parameters
        ----------
        parts : sequence of str
            The path's components.

        Returns
        -------
        Node or None
            What the merged tree holds there.
        """
        held: Node | int | None = self.root
        for name in parts:
            held = held.children.get(name) if isinstance(held, Node) and held.children is not None else None
        return None if held is None else self.node(held)

    def _directory(self, parts: Sequence[str]) -> Node | None:
        held = self.lookup(parts)
        return held if held is not None and held.children is not None else None

    def walk(self) -> Iterator[tuple[str, Node]]:
        """Every path of the tree with its node, parents before children, names sorted.

        Yields
        ------
        tuple of (str, Node)
            The path and its node.
        """
        yield from subtree("", self.root, self)

    def largest(self, top: int) -> list[tuple[str, Node]]:
        """The ``top`` largest regular files of the tree, largest first.

        Parameters
        ----------
        top : int
            How many.

        Returns
        -------
        list of (str, Node)
            Path and node, largest first (ties by path).
        """
        files = [(path, node) for path, node in self.walk() if node.entry.type == "file"]
        return sorted(files, key=lambda item: (-item[1].entry.size, item[0]))[:top]

    @property
    def final_bytes(self) -> int:
        """Regular-file bytes in the merged tree."""
        return sum(node.entry.size for _, node in self.walk() if node.entry.type == "file")

    def rows(self) -> Iterator[tuple[object, ...]]:
        """The merged tree as file-listing rows (``layer`` is the layer each path comes from).

        Yields
        ------
        tuple
            ``COLUMNS`` of :mod:`regkit.analysis.layers`: the entry's fields, then its layer.
        """
        for path, node in self.walk():
            yield (path, *node.entry[1:], node.layer)

    def directory_sizes(self) -> dict[str, tuple[int, int]]:
        """``{directory: (content bytes, regular files)}`` below each directory holding files, the root as ``/``.

        Each directory adds up its children's totals once, children before parents.

        Returns
        -------
        dict
            Directory path to (bytes, files), for directories with at least one regular file below.
        """
        order = [("", self.root), *((path, node) for path, node in self.walk() if node.children is not None)]
        totals: dict[int, tuple[int, int]] = {}
        for _, node in reversed(order):
            size = count = 0
            for child in (node.children or {}).values():
                if isinstance(child, Node):
                    below = totals[id(child)]
                    size, count = size + below[0], count + below[1]
                elif self._kinds[child >> _SHIFT][child & _ORDINAL] == FILE:
                    size, count = size + self._sizes[child >> _SHIFT][child & _ORDINAL], count + 1
            totals[id(node)] = (size, count)
        return {path or "/": totals[id(node)] for path, node in order if totals[id(node)][1]}

    def resolve(self, start: Sequence[str], target: str) -> tuple[str, ...] | None:
        """Where ``target`` leads from directory ``start``, following the tree's symlinks; None if it leaves the root.

        An absolute target counts from the root (export rewrites it so); ``..`` above the root is
        leaving it, as it would be on the host, and so is a chain of more than 40 links.

        Parameters
        ----------
        start : sequence of str
            The directory the link is in, as components.
        target : str
            The link's target.

        Returns
        -------
        tuple of str or None
            The components of where it leads, or None when it leaves the root or loops.
        """
        pending = list(reversed(target.split("/")))
        parts = [] if target.startswith("/") else list(start)
        hops = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                if not parts:
                    return None
                parts.pop()
                continue
            node = self.lookup([*parts, name])
            if node is None or node.entry.type != "symlink":
                parts.append(name)
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return None
            if node.entry.link.startswith("/"):
                parts = []
            pending.extend(reversed(node.entry.link.split("/")))
        return tuple(parts)

    def _size(self, held: Node | int) -> int:
        return held.entry.size if isinstance(held, Node) else self._sizes[held >> _SHIFT][held & _ORDINAL]

    def _remove(self, parts: tuple[str, ...], layer: int, change: LayerChange) -> None:
        """A whiteout: drop ``parts`` and what is below it, if lower layers have it."""
        parent = self._directory(parts[:-1])
        held = parent.children.pop(parts[-1], None) if parent is not None and parent.children is not None else None
        if held is not None:
            self._drop("/".join(parts), held, layer, change)

    def _drop(self, path: str, held: Node | int, layer: int, change: LayerChange, how: str = "deleted") -> None:
        """Forget a path and everything below it; the top one is ``how``, the rest deleted."""
        self._last = _NOWHERE  # the directory :meth:`_put` keeps at hand may be among them
        for sub_path, sub in _held_below(path, held):
            top = sub is held
            size = self._size(sub)
            if size and (isinstance(sub, int) and self._kinds[sub >> _SHIFT][sub & _ORDINAL] == FILE):
                self.waste.append(Waste(sub_path, size, sub >> _SHIFT, layer, how if top else "deleted"))
            if not top or how == "deleted":
                change.deleted += 1
                change.deleted_bytes += size

    def _put(self, directory: str, name: str, held: Node | int, size: int, change: LayerChange) -> None:
        """Place an entry ``name`` in ``directory``; new paths are charged.

        Non-directories on the way become directories (what they held is overwritten).
        """
        layer = held.layer if isinstance(held, Node) else held >> _SHIFT
        if directory == self._last[0]:  # tars list a directory's entries together: its node is still at hand
            parent, length = self._last[1], self._last[2]
        else:
            parent, length = self._parent(directory, layer, change)
            self._last = (directory, parent, length)
        assert parent.children is not None
        old = parent.children.get(name)
        if old is None:
            self.meter.paths(length + 1 + len(name))
            change.added += 1
            change.added_bytes += size
        else:
            change.modified += 1
            change.modified_bytes += size
            if isinstance(old, Node) and isinstance(held, Node):
                held.children = old.children  # a directory over a directory: contents stay
            else:
                self._drop(f"{directory}/{name}" if directory else name, old, layer, change, "overwritten")
                self._last = (directory, parent, length)  # the parent itself stays
        parent.children[name] = held
        self.written_bytes += size

    def _parent(self, directory: str, layer: int, change: LayerChange) -> tuple[Node, int]:
        """The directory node at ``directory`` and the length of its path, made (and charged) where missing."""
        parent = self.root
        length = -1  # of the path down to ``parent``, as "/".join would make it
        if not directory:
            return parent, length
        parts = directory.split("/")
        for depth, name in enumerate(parts):
            assert parent.children is not None  # only directories are walked into
            length += 1 + len(name)
            child = parent.children.get(name)
            if not isinstance(child, Node):
                if child is not None:
                    self._drop("/".join(parts[: depth + 1]), child, layer, change, "overwritten")
                self.meter.paths(length)
                child = parent.children[name] = Node(IMPLIED, layer, -1, {})
                change.added += 1
            parent = child
        return parent, length


def _held_below(path: str, held: Node | int) -> Iterator[tuple[str, Node | int]]:
    """``held`` and what is below it, with their paths, parents first, without recursion."""
    stack = [(path, held)]
    while stack:
        here, current = stack.pop()
        yield here, current
        if isinstance(current, Node) and current.children:
            children = current.children
            for name in sorted(children, reverse=True):
                stack.append((f"{here}/{name}", children[name]))


def subtree(path: str, node: Node, tree: Filesystem) -> Iterator[tuple[str, Node]]:
    """The nodes below ``node`` of ``tree``, parents first, without recursion.

    Iterative because a hostile tar can nest paths deeper than Python's recursion limit.
    """
    stack: list[tuple[str, Node | int]] = []
    here, current = path, node
    while True:
        children = current.children or {}
        for name in sorted(children, reverse=True):
            stack.append((f"{here}/{name}" if here else name, children[name]))
        if not stack:
            return
        here, held = stack.pop()
        current = tree.node(held)
        yield here, current
