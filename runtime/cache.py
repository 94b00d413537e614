"""The compile cache: payloads by key, in memory and on disk. Two kinds of payload use it: object
code from `emit_object` (jit.py) and optimized graphs as IR text (graph_cache.py).

`key(text)` hashes the text with everything that makes machine code valid only here: host CPU
name and features, llvmlite's and tracejit's versions. A disk entry is one file `<key>.tjc`: a
header (magic, format version, payload length, key, SHA-256 of the payload) and the payload.
Writes go to a temp file in the same directory and are `os.replace`d into place, so readers
and concurrent writers only ever see whole files; an entry whose header or checksum does not
match is counted, deleted and treated as a miss, and so is an entry that is not a regular file
(a FIFO, a device, a link to one, a directory: opened without blocking, logged) or is larger than
the cache writes. Writes are not fsynced (that costs 3-7 ms per
entry, a tenth of a cold compile): after a system crash a renamed entry may hold fewer or other
bytes than written, and the checksum turns it into a miss like any corrupt entry. No pickle:
payloads are opaque bytes.

The checksum guards against corruption, not against an attacker who can write the directory:
loading an entry runs its code, so the directory must be trusted (it is created mode 0o700).

Environment: `TRACEJIT_CACHE_DIR` (a directory; `off` or empty disables the disk layer; default
the platform's user cache directory from platformdirs: `$XDG_CACHE_HOME/tracejit` or
`~/.cache/tracejit` on Linux), `TRACEJIT_CACHE_MAX_BYTES` and
`TRACEJIT_CACHE_MAX_ENTRIES` (the disk bound; the oldest entries by last use go first).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import random
import re
import stat
import struct
import sys
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"TJCACHE\0"
FORMAT_VERSION = 1
# magic, format version, payload length, key (32 raw bytes), SHA-256 of the payload
HEADER = struct.Struct("<8sIQ32s32s")
SUFFIX = ".tjc"
TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to a writer that died
DEFAULT_MAX_BYTES = 256 * 2**20
DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MEMORY_ENTRIES = 512
EVICTION_SLACK = 64  # the directory is scanned about once per 1/64 of a bound written

_rng = random.Random()
log = logging.getLogger("tracejit.cache")

_KEY = re.compile(r"[0-9a-f]{64}")
_ENTRY = re.compile(r"[0-9a-f]{64}" + re.escape(SUFFIX))
_DIST_INFO = re.compile(r"tracejit-([^-]+)(?:-py[^-]*)?\.(?:dist|egg)-info")


class CacheWarning(UserWarning):
    """The disk cache cannot be used (unwritable directory, bad setting); memory only."""


def key(text: str, *, extra: tuple = ()) -> str:
    """Hex SHA-256 of `text`, the host CPU and features, llvmlite and tracejit versions, `extra`.

    `extra` holds plain data (ints, strings, tuples) that also shapes the code, such as the
    optimization level; each item enters the hash through its `repr`.
    """
    digest = hashlib.sha256()
    for part in (f"tracejit-cache-v{FORMAT_VERSION}", text, *_host_parts(), *map(repr, extra)):
        data = part.encode()
        digest.update(len(data).to_bytes(8, "little"))  # length-prefixed: no ambiguous joins
        digest.update(data)
    return digest.hexdigest()


@functools.cache
def _host_parts() -> tuple[str, ...]:
    import llvmlite
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    return (llvm.get_host_cpu_name(), features, llvmlite.__version__, _tracejit_version())


def _tracejit_version() -> str:
    """The installed distribution's version, read from its `.dist-info` folder's name on
    sys.path: importing importlib.metadata costs ~30 ms, twice a warm compile."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            found = _DIST_INFO.fullmatch(name)
            if found:
                return found[1]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tracejit")
    except PackageNotFoundError:
        return "unknown"


@dataclass(slots=True)
class CacheStats:
    """Counters: `hits` are gets that found a payload (`disk_hits` of them on disk), `misses` the
    gets that did not; `corrupt` counts rejected disk entries, `evictions` files removed for the
    size bound."""

    hits: int = 0
    misses: int = 0
    disk_hits: int = 0
    corrupt: int = 0
    evictions: int = 0


class CompileCache:
    """Payloads by key: an LRU dict in memory in front of an optional directory.

    `directory=None` keeps it in memory only. The disk layer holds about `max_entries` files and
    `max_bytes` bytes (a soft bound: see `_scan_due`), evicting the least recently used by mtime,
    which a disk hit refreshes. A payload larger than `max_bytes` stays in memory.
    """

    def __init__(self, directory: str | os.PathLike | None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 memory_entries: int = DEFAULT_MEMORY_ENTRIES):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.memory_entries = memory_entries
        self.stats = CacheStats()
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            self._prepare_directory()

    def __repr__(self) -> str:
        return f"CompileCache({str(self.directory)!r}, stats={self.stats})"

    def get(self, key: str) -> bytes | None:
        """The payload stored under `key`, or None; a disk entry is verified before it is used."""
        _check_key(key)
        with self._lock:
            payload = self._memory.get(key)
            if payload is not None:
                self._memory.move_to_end(key)
                self.stats.hits += 1
                return payload
        directory = self.directory
        payload = self._read(directory, key) if directory is not None else None
        with self._lock:
            if payload is None:
                self.stats.misses += 1
                return None
            self.stats.hits += 1
            self.stats.disk_hits += 1
            self._remember(key, payload)
        return payload

    def put(self, key: str, payload: bytes) -> None:
        """Store `payload` under `key` in memory and, atomically, on disk."""
        _check_key(key)
        payload = bytes(payload)
        with self._lock:
            self._remember(key, payload)
        directory = self.directory
        if directory is not None and len(payload) + HEADER.size <= self.max_bytes:
            self._write(directory, key, payload)
            if self._scan_due(HEADER.size + len(payload)):
                self._evict(directory, newest=key)

    def clear(self) -> None:
        """Drop every entry, in memory and on disk (only this cache's own files); keep stats."""
        with self._lock:
            self._memory.clear()
        for path in _own_files(self.directory):
            with contextlib.suppress(OSError):
                path.unlink()

    # -- memory ---------------------------------------------------------------------------------

    def _remember(self, key: str, payload: bytes) -> None:
        if self.memory_entries <= 0:
            return
        self._memory[key] = payload
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    # -- disk -----------------------------------------------------------------------------------

    def _prepare_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            return self._disable(f"cannot create {self.directory}: {e}")
        if not os.access(self.directory, os.W_OK | os.X_OK):
            self._disable(f"{self.directory} is not writable")

    def _disable(self, reason: str) -> None:
        """Turn the disk layer off for this cache, with one warning."""
        with self._lock:
            if self.directory is None:
                return
            self.directory = None
        warnings.warn(f"tracejit compile cache: {reason}; caching in memory only "
                      f"(set TRACEJIT_CACHE_DIR to a writable directory, or to 'off')",
                      CacheWarning, stacklevel=4)

    def _read(self, directory: Path, key: str) -> bytes | None:
        path = directory / (key + SUFFIX)
        try:
            f = _open_entry(path, self.max_bytes)
            if f is None:
                log.warning("tracejit compile cache: %s is not a regular file of at most %d "
                            "bytes (a FIFO, device, directory or oversized file): a miss",
                            path, self.max_bytes)
                payload = None
            else:
                with f:
                    payload = _decode(key, f.read(HEADER.size), os.fstat(f.fileno()).st_size, f)
        except FileNotFoundError:
            return None
        except OSError:
            return None  # unreadable now (permissions, I/O): a miss, the next put rewrites it
        if payload is None:
            with self._lock:
                self.stats.corrupt += 1
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # mtime is the last use: eviction drops the least recently used
        return payload

    def _write(self, directory: Path, key: str, payload: bytes) -> None:
        header = HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), bytes.fromhex(key),
                             hashlib.sha256(payload).digest())
        try:
            fd, temp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=SUFFIX)
        except OSError as e:
            return self._disable(f"cannot write to {directory}: {e}")
        try:
            with os.fdopen(fd, "wb") as f:  # no fsync (3-7 ms): see the module docstring
                f.write(header)
                f.write(payload)
            os.replace(temp, directory / (key + SUFFIX))  # atomic: old file or new, never half
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self._disable(f"cannot write to {directory}: {e}")

    def _scan_due(self, size: int) -> bool:
        """Whether this put scans the directory for eviction (a scan of 4000 entries takes
        ~60 ms, more than a compile). Random, so short-lived processes share the work too."""
        share = EVICTION_SLACK * max(1 / max(self.max_entries, 1), size / max(self.max_bytes, 1))
        return share >= 1 or _rng.random() < share

    def _evict(self, directory: Path, newest: str) -> None:
        """Keep the newest entries within both bounds; remove temp files left by dead writers."""
        entries, now = [], time.time()
        for path in _own_files(directory):
            try:
                st = path.stat()
            except OSError:
                continue  # removed by another process meanwhile
            if path.name.startswith(TEMP_PREFIX):
                if now - st.st_mtime > STALE_TEMP_SECONDS:
                    with contextlib.suppress(OSError):
                        path.unlink()
                continue
            entries.append((st.st_mtime, st.st_size, path))
        # the entry just written ranks first even if a coarse clock ties it with older ones
        entries.sort(key=lambda e: (e[2].name == newest + SUFFIX, e[0]), reverse=True)
        kept = total = 0
        for _, size, path in entries:
            if kept < self.max_entries and total + size <= self.max_bytes:
                kept, total = kept + 1, total + size
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                with self._lock:
                    self.stats.evictions += 1


def _own_files(directory: Path | None) -> list[Path]:
    """Entries and temp files of a cache; nothing else in the directory is ever touched."""
    if directory is None:
        return []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [directory / n for n in names
            if _ENTRY.fullmatch(n) or (n.startswith(TEMP_PREFIX) and n.endswith(SUFFIX))]


def _open_entry(path: Path, max_bytes: int):
    """`path` opened for reading if it is a regular file of at most `max_bytes` bytes (the
    cache writes no bigger entry), else None: opened without blocking, so that a FIFO or a
    device in its place is a miss instead of a hang. Checked on the descriptor."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: opening a device can block
        return None
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max(max_bytes, HEADER.size):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def _decode(key: str, header: bytes, size: int, f) -> bytes | None:
    """The payload if the header matches this key and the bytes check out, else None."""
    if len(header) != HEADER.size:
        return None  # truncated inside the header
    magic, version, length, stored_key, digest = HEADER.unpack(header)
    if (magic != MAGIC or version != FORMAT_VERSION or size != HEADER.size + length
            or stored_key != bytes.fromhex(key)):
        return None
    payload = f.read(length)
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(f"compile cache keys are 64 lowercase hex digits from "
                         f"tracejit.runtime.cache.key(); got {key!r}")


def cache_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The disk cache's directory from the environment, or None when disabled."""
    value = environ.get("TRACEJIT_CACHE_DIR")
    if value is not None:
        value = value.strip()
        return None if value in ("", "off") else Path(value).expanduser()
    import platformdirs  # imported on first use: about 1 ms, off `import tracejit`'s path

    try:  # $XDG_CACHE_HOME/tracejit or ~/.cache/tracejit on Linux, ~/Library/Caches/tracejit on
        # macOS, %LOCALAPPDATA%\\tracejit\\Cache on Windows
        return platformdirs.user_cache_path("tracejit", appauthor=False)
    except RuntimeError:  # no home directory
        return None


def _int_setting(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        warnings.warn(f"{name}={value!r} is not an integer; using {default}", CacheWarning,
                      stacklevel=3)
        return default


_default: CompileCache | None = None
_default_lock = threading.Lock()


def default_cache() -> CompileCache:
    """The process-wide cache; its directory and bounds are read from the environment once."""
    global _default
    with _default_lock:
        if _default is None:
            env = os.environ
            _default = CompileCache(
                cache_directory(env),
                max_bytes=_int_setting(env, "TRACEJIT_CACHE_MAX_BYTES", DEFAULT_MAX_BYTES),
                max_entries=_int_setting(env, "TRACEJIT_CACHE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES))
        return _default
