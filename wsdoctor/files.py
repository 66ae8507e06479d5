"""Reading and writing the files a user names, so that no path can hang wsdoctor or make it
read without end, and no write replaces anything but a regular file.

- Reads are bounded: a FIFO nobody writes to is read as empty at once (it is opened without
  waiting for a writer), a device such as ``/dev/zero`` is refused, and anything larger
  than the caller's limit is refused after reading at most ``limit + 1`` bytes.
- Writes replace a regular file atomically (a temporary file, then a rename), write through a
  device, a FIFO that has a reader and anything under /dev or /proc (``-o /dev/stdout``),
  and never replace a device node, a FIFO, a socket or a symlink itself (the file a symlink
  points to is replaced instead).

Imports nothing heavy; errors are :class:`FileProblem`, whose reason fits after the path.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from typing import TextIO

MiB = 1024 * 1024
_CHUNK = 64 * 1024


class FileProblem(OSError):
    """A file cannot be read or written as asked; ``strerror`` (and ``str()``) says why in a
    few words, for the caller to put after the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.strerror = reason


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"


def read_bounded(path: str, limit: int) -> bytes:
    """The bytes of ``path``: a regular file or a pipe, at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FileProblem(str(exc.strerror or exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileProblem("is a directory")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise FileProblem("not a regular file or a pipe (a device or socket)")
        if stat.S_ISREG(mode) and os.fstat(fd).st_size > limit:
            raise FileProblem(f"larger than {_size(limit)}")
        os.set_blocking(fd, True)  # a FIFO with no writer now reads as end of file
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileProblem(f"larger than {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        if isinstance(exc, FileProblem):
            raise
        raise FileProblem(str(exc.strerror or exc)) from None
    finally:
        os.close(fd)


def read_text_stream(stream: TextIO, limit: int) -> str:
    """Text from standard input, at most ``limit`` characters; NUL (binary input such as
    ``/dev/zero``) is refused as soon as it is seen."""
    parts: list[str] = []
    total = 0
    while total <= limit:
        try:
            chunk = stream.read(min(_CHUNK, limit + 1 - total))
        except UnicodeDecodeError:
            raise FileProblem("not UTF-8 text") from None
        if not chunk:
            break
        if "\0" in chunk:
            raise FileProblem("binary data (NUL bytes), not YAML or JSON text")
        parts.append(chunk)
        total += len(chunk)
    if total > limit:
        raise FileProblem(f"larger than {_size(limit)}")
    return "".join(parts)


def _kind(path: str) -> int | None:
    """The mode of what ``path`` leads to (symlinks followed), None when nothing is there."""
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None


def _written_through(path: str, mode: int | None) -> bool:
    """Devices, FIFOs and anything under /dev or /proc (``/dev/stdout`` redirected to a file
    included) are written in place: replacing them would break what they stand for."""
    if mode is not None and not stat.S_ISREG(mode):
        return True
    return os.path.abspath(path).startswith(("/dev/", "/proc/"))


def writable(path: str) -> str | None:
    """Why ``path`` cannot be written (None when it can): checked before a long run starts."""
    try:
        mode = _kind(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    if mode is not None and stat.S_ISDIR(mode):
        return "it is a directory"
    if mode is not None and stat.S_ISSOCK(mode):
        return "it is a socket"
    if mode is not None and _written_through(path, mode):
        return None if os.access(path, os.W_OK) else "Permission denied"
    directory = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(directory):
        return "No such file or directory"
    if not os.access(directory, os.W_OK):
        return "Permission denied"
    return None


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _keep_attributes(tmp: str, real: str) -> None:
    """Give the new file the replaced one's mode (and owner, where allowed: as root)."""
    try:
        before = os.stat(real)
    except FileNotFoundError:
        os.chmod(tmp, _new_file_mode())
        return
    os.chmod(tmp, stat.S_IMODE(before.st_mode))
    if (before.st_uid, before.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(tmp, before.st_uid, before.st_gid)
        except PermissionError:
            pass  # not ours to give away: the mode is kept, the owner is the writer


def write_replacing(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``: a regular file (or a new one) is replaced atomically (the
    file a symlink points to, not the link), a device, a FIFO with a reader or /dev/stdout is
    written through; a directory or socket is a FileProblem. A replaced file keeps its
    permission bits (a report kept 0600 stays 0600); a new one gets them as ``open()`` would."""
    try:
        existing = _kind(path)
    except OSError as exc:
        raise FileProblem(str(exc.strerror or exc)) from None
    if existing is not None and stat.S_ISDIR(existing):
        raise FileProblem("is a directory")
    if _written_through(path, existing):
        _write_through(path, existing, data)
        return
    real = os.path.realpath(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(real), prefix=f".{os.path.basename(real)}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise FileProblem(str(exc.strerror or exc)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_attributes(tmp, real)
        os.replace(tmp, real)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise FileProblem(str(exc.strerror or exc)) from None
        raise


def _write_through(path: str, mode: int | None, data: bytes) -> None:
    """Written in place, appended to a regular file (``-o /dev/stdout > file`` keeps what was
    printed before), never waiting for a FIFO's reader."""
    if mode is not None and stat.S_ISSOCK(mode):
        raise FileProblem("is a socket")
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if mode is None or stat.S_ISREG(mode):
        flags |= os.O_APPEND | os.O_CREAT
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO that nobody reads
            raise FileProblem("a FIFO with no reader") from None
        raise FileProblem(str(exc.strerror or exc)) from None
    try:
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise FileProblem(str(exc.strerror or exc)) from None
    finally:
        os.close(fd)
