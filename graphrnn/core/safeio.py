"""All-or-nothing state: atomic ``.npz`` writes, ``.npz`` reads checked from the headers
before any data is inflated (never unpickling), and a guard that holds Ctrl-C back while
state is being changed.

Used by :meth:`Module.save`/:meth:`~Module.load`, the optimizers and the checkpoints.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import zipfile
import zlib
from typing import Dict, Mapping, Tuple

import numpy as np
from numpy.lib import format as npformat

#: the process's umask, read once at import (reading it means setting it: not thread-safe)
_UMASK = os.umask(0o022)
os.umask(_UMASK)

__all__ = ["deferred_interrupt", "write_npz", "NpzReader"]

#: a member declaring more bytes than the deflate limit allows for its compressed size
_MAX_RATIO = 1100


@contextlib.contextmanager
def deferred_interrupt():
    """Hold SIGINT (Ctrl-C) back while the block runs and raise ``KeyboardInterrupt`` after
    it: what the block changes is changed completely or not at all.

    Acts only in the main thread while Python's default SIGINT handler is installed (a
    nested guard, another thread or a custom handler runs the block as is)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def write_npz(path, arrays: Mapping[str, np.ndarray]) -> str:
    """Write ``arrays`` to ``path`` (``.npz`` appended if missing) atomically; returns the path.

    The data goes to a unique temporary file in the same folder, is flushed and fsynced,
    and renamed over ``path`` (then the folder is fsynced where the OS allows): readers and
    concurrent writers see the old file or a complete new one, and a writer killed at any
    moment leaves at most a stray ``.<name>.*.tmp`` file.  The temporary file is removed
    when the write fails."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        try:  # keep the mode of the file replaced (mkstemp creates 0600)
            os.chmod(tmp, os.stat(path).st_mode & 0o777)
        except OSError:  # a new file: what open() would give under the process's umask
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):  # no directory fsync on Windows
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


class NpzReader:
    """An ``.npz`` file opened for checked reading: every member's header (name, shape,
    dtype) is parsed on opening, so the caller compares them with what it expects before
    :meth:`read` inflates any data.

    Raises ``error("cannot read <what> <path>: ...")`` for a file that is not a readable
    archive of ``.npy`` members, a member holding objects (pickle is never used), a header
    declaring more data than its member holds, or a duplicated member."""

    def __init__(self, path, error=ValueError, what: str = "file"):
        self.error, self.what = error, what
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise error(f"cannot read {what}: expected a path, got {path!r}") from None
        #: ``name -> (shape, dtype)`` of every member
        self.headers: Dict[str, Tuple[tuple, np.dtype]] = {}
        self._members: Dict[str, zipfile.ZipInfo] = {}
        try:
            self._size = os.path.getsize(self.path)
            self._zip = zipfile.ZipFile(self.path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            self._fail(e)
        try:
            problems = [p for info in self._zip.infolist() for p in self._header(info)]
        except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError,
                zipfile.BadZipFile, zlib.error) as e:  # (encrypted or unknown compression)
            self.close()
            self._fail(e)
        if problems:
            self.close()
            self._fail("; ".join(problems))

    def _fail(self, reason):
        if isinstance(reason, BaseException):
            reason = f"{type(reason).__name__}: {reason}"
        raise self.error(f"cannot read {self.what} {self.path!r}: {reason}") from None

    def _header(self, info: zipfile.ZipInfo):
        if not info.filename.endswith(".npy"):
            return [f"member {info.filename!r} is not an array"]
        name = info.filename[:-4]
        if name in self._members:
            return [f"member {name!r} appears twice"]
        with self._zip.open(info) as f:
            version = npformat.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(f)
            else:
                return [f"{name!r}: unsupported .npy version {version}"]
            header = f.tell()
        if dtype.hasobject:
            return [f"{name!r} holds Python objects ({dtype}), which would need pickle"]
        declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
        held = info.file_size - header
        packed = min(info.compress_size, self._size)  # a directory cannot claim more
        limit = packed * _MAX_RATIO if info.compress_type != zipfile.ZIP_STORED else held
        if declared > held or declared > limit:
            return [f"{name!r} declares {shape} {dtype} ({declared} bytes) but its member "
                    f"holds {max(held, 0)} bytes"]
        self._members[name] = info
        self.headers[name] = (tuple(shape), dtype)
        return []

    def read(self, name: str) -> np.ndarray:
        """The array ``name`` (its header was checked on opening)."""
        try:
            with self._zip.open(self._members[name]) as f:
                return npformat.read_array(f, allow_pickle=False)
        except (OSError, ValueError, EOFError, RuntimeError, NotImplementedError,
                zipfile.BadZipFile, zlib.error) as e:
            self._fail(f"{name!r}: {type(e).__name__}: {e}")

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
