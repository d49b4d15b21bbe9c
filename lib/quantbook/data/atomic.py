"""Atomic replacement of files and folders: a reader sees the old version or the new one.

Every write that must not leave a half-written file or folder goes through here: cache entries
(:mod:`quantbook.data.cache`), a store's commit (:class:`quantbook.data.store.StoreWriter`),
report pages and metrics files, the site's generated pages and the built book.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_replace_dir", "atomic_write"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Write ``path`` through a temporary sibling file that replaces it once complete.

    Parameters
    ----------
    path
        The file to (re)write; its folder is created if needed.
    write
        Called with the temporary path; writes the whole content there.

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    The temporary file ``.<name>.<random>.part`` sits in the same folder (same file system),
    is flushed to disk (``fsync``) and then renamed over ``path`` with :func:`os.replace`,
    which is atomic: a reader sees the old file or the new one, never a partial one. On any
    failure (of ``write`` or of the rename) the temporary file is removed, the old file is
    left as it was, and the exception propagates.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = atomic_write(p, lambda tmp: tmp.write_text("hello"))
    >>> p.read_text()
    'hello'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def atomic_replace_dir(staged: Path, target: Path) -> None:
    """Put the folder (or file) ``staged`` at ``target``, moving any one there aside first.

    Notes
    -----
    ``target`` is renamed to a hidden sibling ``.<name>.<random>.old``, ``staged`` is renamed
    to ``target`` and the old one is then deleted; if the second rename fails, the old one is
    put back.
    Both renames are atomic on one file system; between them ``target`` is briefly absent.
    """
    old: Path | None = None
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(target, old)
    try:
        os.replace(staged, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
