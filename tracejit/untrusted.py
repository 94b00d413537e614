"""Reading files that may be damaged or hostile: graph files, checkpoints, `.npy` inputs.

Only regular files are opened (a FIFO, a device such as /dev/zero or a directory would block or
never end), without blocking, and checked again on the open descriptor. What a file may expand
to when loaded is bounded (`load_limit`), and an npy array is built only after its header's
declared size has been compared with the bytes that are really there: nothing is allocated on
a header's word.
"""

from __future__ import annotations

import io
import math
import os
import stat

import numpy as np

# the most a file may expand to when loaded, and the largest value a loaded graph may hold;
# $TRACEJIT_MAX_LOAD_BYTES replaces the whole rule by its number
MAX_LOAD_BYTES = 1 << 34  # 16 GiB
MIN_LOAD_BYTES = 1 << 28  # 256 MiB: any file may expand to this much
MAX_EXPANSION = 256  # beyond that, a file may expand to this many times its size
MAX_NPY_HEADER = 10_000  # numpy's own default bound on an npy header
LIMIT_ENV = "TRACEJIT_MAX_LOAD_BYTES"
_NOT_REGULAR = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISSOCK, "a socket"))


class UntrustedFileError(ValueError):
    """A file that cannot be read safely; `problem` says why (the caller adds the file name)."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(problem)


def load_limit(file_size: int | None) -> int:
    """How many bytes loading a file of `file_size` bytes may produce: $TRACEJIT_MAX_LOAD_BYTES,
    else `MAX_EXPANSION` times its size, at least `MIN_LOAD_BYTES`, at most `MAX_LOAD_BYTES`."""
    value = os.environ.get(LIMIT_ENV, "").strip()
    if value:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{LIMIT_ENV}={value!r} is not a number of bytes") from None
    if file_size is None:
        return MAX_LOAD_BYTES
    return min(MAX_LOAD_BYTES, max(MIN_LOAD_BYTES, MAX_EXPANSION * file_size))


def limit_hint() -> str:
    return f"set {LIMIT_ENV} to a larger number of bytes to load it anyway if you trust it"


def _kind(mode: int) -> str:
    for test, name in _NOT_REGULAR:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path) -> tuple[io.BufferedReader, int]:
    """`path` opened for binary reading, and its size; UntrustedFileError if it is not a regular
    file (checked before opening, and on the descriptor: it may be swapped in between)."""
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UntrustedFileError(f"cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise UntrustedFileError(f"is {_kind(mode)}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UntrustedFileError(f"cannot be read ({e.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UntrustedFileError(f"is {_kind(st.st_mode)}, not a regular file")
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, what: str = "file") -> bytes:
    """The bytes of the regular file `path`, at most `load_limit(None)` of them."""
    fh, size = open_regular(path)
    with fh:
        limit = load_limit(size)
        if size > limit:
            raise UntrustedFileError(f"is {size} bytes, more than a {what} may be ({limit}): "
                                     + limit_hint())
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UntrustedFileError(f"is more than {limit} bytes: " + limit_hint())
    return data


def read_npy(data: bytes, dtypes=None) -> np.ndarray:
    """The array an npy file's bytes hold, read-only; UntrustedFileError if the header is bad,
    its dtype is not one of `dtypes` (None: any plain dtype) or its declared size is not the
    size of the data that follows it."""
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                fp, max_header_size=MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                fp, max_header_size=MAX_NPY_HEADER)
        else:
            raise UntrustedFileError(f"npy format version {version} is not supported")
    except UntrustedFileError:
        raise
    except Exception as e:  # ValueError for a bad magic or header, EOFError, SyntaxError, ...
        raise UntrustedFileError(f"is not a plain npy array ({type(e).__name__}: {e})"[:300]) \
            from None
    dtype = _plain_dtype(dtype, dtypes)
    if not isinstance(shape, tuple) or not all(
            type(d) is int and d >= 0 for d in shape) or len(shape) > 64:
        raise UntrustedFileError(f"has an invalid npy shape {shape!r}"[:200])
    nbytes = math.prod(shape) * dtype.itemsize
    offset = fp.tell()
    if len(data) - offset != nbytes:
        raise UntrustedFileError(
            f"its npy header declares {dtype}{list(shape)} ({nbytes} bytes of data), but "
            f"{len(data) - offset} bytes follow the header")
    array = np.frombuffer(data, dtype, math.prod(shape), offset)
    array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    if dtype.byteorder not in ("=", "|"):  # stored in the other byte order: this machine's
        array = array.astype(dtype.newbyteorder("="))
    if dtype.kind == "b":  # a bool byte other than 0 or 1 is True (numpy would keep it as is)
        array = np.asarray(array.view(np.uint8) != 0)
    if not array.flags.c_contiguous:  # (not ascontiguousarray: it makes a 0-d array 1-d)
        array = array.copy(order="C")
    array.flags.writeable = False
    return array


def _plain_dtype(dtype: np.dtype, dtypes) -> np.dtype:
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise UntrustedFileError(f"is not a plain npy array (its dtype {dtype} needs pickle)")
    if dtypes is not None and dtype.newbyteorder("=") not in dtypes:
        raise UntrustedFileError(f"holds {dtype}, not a tracejit dtype")
    return dtype
