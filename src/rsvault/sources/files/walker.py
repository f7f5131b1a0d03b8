"""Enumerate the file trees to back up, as Nodes, in one deterministic order.

The order is a depth-first pre-order over the whole file system, entries sorted bytewise, so
a parent always comes before its children and two walks of an unchanged tree agree. Only
what lies under the given roots is visited, plus the directories above each root: their
metadata is captured too, so a restore can recreate /home and /home/ana as they were.

Problems with single entries are yielded as JobWarnings and the walk goes on; only a
top-level path that does not exist is an error, raised before anything is yielded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from rsvault.errors import Code, JobWarning, RsvaultError
from rsvault.sources.files.describe import describe, read_xattrs
from rsvault.sources.files.excludes import ExcludeMatcher
from rsvault.sources.files.node import Node, NodeType
from rsvault.sources.files.owners import OwnerNames

_ROOT = b"/"

# A file's extended attributes as an earlier walk found them, if the file is unchanged since
# (same inode, size, mtime and ctime: setting an attribute changes the ctime), else None.
KnownXattrs = Callable[[Node], dict[bytes, bytes] | None]


def walk(
    paths: Sequence[str],
    excludes: Sequence[str] = (),
    *,
    one_file_system: bool = False,
    known_xattrs: KnownXattrs | None = None,
) -> Iterator[Node | JobWarning]:
    """Nodes (and warnings) for `paths` and everything under them; see the module docstring.

    Excludes never apply to the given paths themselves: naming a path is a stronger wish
    than a pattern. With `one_file_system`, a directory on another file system than its
    root is yielded (it is the mount point) but not descended into. `known_xattrs` spares
    listing the attributes of files an earlier walk saw unchanged.
    """
    roots = {_absolute_root(path) for path in paths}  # all validated before the first yield
    return _Walk(roots, ExcludeMatcher(excludes), one_file_system, known_xattrs).run()


def absolute_path(node_path: bytes) -> bytes:
    """The absolute path of a Node.path: b'home/ana' -> b'/home/ana', b'' -> b'/'."""
    return _ROOT + node_path


def _absolute_root(path: str) -> bytes:
    # The directories above the root are resolved (a root under a symlinked directory must be
    # recorded where it really is, or it could not be restored beneath real directories); the
    # root itself is not, so a root that is a symlink is backed up as the symlink.
    absolute = os.path.abspath(path) if path else ""
    parent, name = os.path.split(absolute)
    real = os.path.join(os.path.realpath(parent), name) if name else absolute
    try:
        os.lstat(real)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        raise RsvaultError(Code.BACKUP_SOURCE_NOT_FOUND, path=absolute or path) from None
    except OSError:
        pass  # it exists but cannot be examined: the walk reports that as a warning
    return os.fsencode(real)


@dataclass(frozen=True)
class _Visit:
    absolute: bytes
    # False for a directory visited only to reach roots below it (an ancestor of a root, or an
    # excluded directory or mount point with a root inside): then only those are descended to.
    full: bool
    root_device: int | None  # st_dev of the root being walked; None when this is a root


class _Walk:
    def __init__(
        self,
        roots: set[bytes],
        excludes: ExcludeMatcher,
        one_fs: bool,
        known_xattrs: KnownXattrs | None,
    ) -> None:
        self._roots = roots
        self._known_xattrs = known_xattrs
        self._toward_roots = _children_toward_roots(roots)
        self._excludes = excludes
        self._one_fs = one_fs
        self._owners = OwnerNames()
        self._first_names: dict[tuple[int, int], bytes] = {}  # (dev, ino) -> first path

    def run(self) -> Iterator[Node | JobWarning]:
        # An explicit stack, not recursion: trees can be deeper than Python's recursion limit.
        top = [_Visit(_ROOT, True, None)] if _ROOT in self._roots else self._visits_toward(_ROOT)
        stack = top[::-1]
        while stack:
            items, children = self._visit(stack.pop())
            yield from items
            stack.extend(reversed(children))

    def _visit(self, visit: _Visit) -> tuple[list[Node | JobWarning], list[_Visit]]:
        try:
            st = os.lstat(visit.absolute)
            node = describe(visit.absolute, st, self._owners)
            warning = self._add_xattrs(node, visit.absolute)
        except OSError as exc:
            return [_warning(visit.absolute, exc)], []
        items: list[Node | JobWarning] = [self._mark_hardlink(node, st)]
        if warning is not None:
            items.append(warning)
        if not stat.S_ISDIR(st.st_mode):
            return items, []
        children, listing_warning = self._children(visit, st)
        if listing_warning is not None:
            items.append(listing_warning)
        return items, children

    def _add_xattrs(self, node: Node, absolute: bytes) -> JobWarning | None:
        if self._known_xattrs is not None and node.type is NodeType.FILE:
            known = self._known_xattrs(node)
            if known is not None:
                node.xattrs = known
                return None
        try:
            node.xattrs = read_xattrs(absolute)
        except (FileNotFoundError, NotADirectoryError):
            raise  # vanished: reported as such by the caller, without the node
        except OSError as exc:
            reason = f"extended attributes: {exc.strerror or exc}"
            return JobWarning(Code.FILE_READ_ERROR, os.fsdecode(absolute), {"reason": reason})
        return None

    def _mark_hardlink(self, node: Node, st: os.stat_result) -> Node:
        """The first name of a multiply-linked file stays a FILE; later ones point to it."""
        if node.type is not NodeType.FILE or st.st_nlink < 2:
            return node
        first = self._first_names.setdefault((st.st_dev, st.st_ino), node.path)
        if first != node.path:
            node.type = NodeType.HARDLINK
            node.link_target = first
        return node

    def _children(
        self, visit: _Visit, st: os.stat_result
    ) -> tuple[list[_Visit], JobWarning | None]:
        device = st.st_dev if visit.root_device is None else visit.root_device
        if not visit.full or (self._one_fs and st.st_dev != device):
            return self._visits_toward(visit.absolute), None
        try:
            with os.scandir(visit.absolute) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as exc:
            # Roots further down are still reachable by name, even when listing is refused.
            return self._visits_toward(visit.absolute), _warning(visit.absolute, exc)
        visits = (self._child(_join(visit.absolute, name), device) for name in names)
        return [v for v in visits if v is not None], None

    def _child(self, absolute: bytes, device: int) -> _Visit | None:
        if absolute in self._roots:
            return _Visit(absolute, True, None)
        if self._excludes and self._excludes.excludes(absolute):
            # Not descended, unless a root lies below: then only the way to it is visited.
            return _Visit(absolute, False, None) if absolute in self._toward_roots else None
        return _Visit(absolute, True, device)

    def _visits_toward(self, directory: bytes) -> list[_Visit]:
        """Visits for the entries of `directory` that are roots or lead to one."""
        paths = (_join(directory, name) for name in self._toward_roots.get(directory, ()))
        return [_Visit(path, path in self._roots, None) for path in paths]


def _children_toward_roots(roots: set[bytes]) -> dict[bytes, list[bytes]]:
    """For each directory above some root, the sorted names in it that are or lead to roots."""
    children: dict[bytes, set[bytes]] = {}
    for root in roots:
        path = root
        while path != _ROOT:
            head, _, name = path.rpartition(b"/")
            parent = head or _ROOT
            children.setdefault(parent, set()).add(name)
            path = parent
    return {parent: sorted(names) for parent, names in children.items()}


def _join(directory: bytes, name: bytes) -> bytes:
    return directory + name if directory == _ROOT else directory + b"/" + name


def _warning(absolute: bytes, exc: OSError) -> JobWarning:
    path = os.fsdecode(absolute)
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return JobWarning(Code.FILE_VANISHED, path)
    if isinstance(exc, PermissionError):
        return JobWarning(Code.FILE_ACCESS_DENIED, path)
    return JobWarning(Code.FILE_READ_ERROR, path, {"reason": exc.strerror or str(exc)})
