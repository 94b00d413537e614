"""The compile cache: memory and disk layers, corrupt entries, the environment, concurrent
processes, the size bound, and a real llvmlite object file through it."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tracejit.runtime import cache
from tracejit.runtime.cache import HEADER, CacheWarning, CompileCache, key


def _payload(k: str, size: int = 1000) -> bytes:
    """Deterministic bytes for a key, so any process can check what it reads."""
    seed = bytes.fromhex(k)
    return (seed * (size // len(seed) + 1))[:size]


def _entry(directory: Path, k: str) -> Path:
    return directory / (k + cache.SUFFIX)


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a script in a fresh interpreter (its own memory layer) and require success."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def _spawn(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- round trip and the memory layer ----------------------------------------------------------


def test_round_trip_writes_one_verified_file(tmp_path):
    c = CompileCache(tmp_path)
    k = key("graph @f() -> () { return() }")
    assert c.get(k) is None
    c.put(k, b"object code")
    assert c.get(k) == b"object code"
    data = _entry(tmp_path, k).read_bytes()
    magic, version, length, stored_key, digest = HEADER.unpack(data[:HEADER.size])
    assert (magic, version, length) == (cache.MAGIC, cache.FORMAT_VERSION, 11)
    assert stored_key.hex() == k
    assert digest == hashlib.sha256(b"object code").digest()
    assert data[HEADER.size:] == b"object code"
    assert (c.stats.hits, c.stats.misses, c.stats.disk_hits, c.stats.corrupt) == (1, 1, 0, 0)


def test_memory_hit_does_not_read_the_disk(tmp_path):
    c = CompileCache(tmp_path)
    k = key("a")
    c.put(k, b"x")
    _entry(tmp_path, k).unlink()
    assert c.get(k) == b"x"
    assert (c.stats.hits, c.stats.disk_hits) == (1, 0)


def test_memory_only_cache_writes_nothing(tmp_path):
    c = CompileCache(None)
    c.put(key("a"), b"x")
    assert c.get(key("a")) == b"x"
    assert c.get(key("b")) is None


def test_memory_layer_is_a_bounded_lru():
    c = CompileCache(None, memory_entries=2)
    k0, k1, k2 = key("0"), key("1"), key("2")
    c.put(k0, b"0")
    c.put(k1, b"1")
    c.get(k0)  # k0 is now the most recently used
    c.put(k2, b"2")
    assert (c.get(k0), c.get(k1), c.get(k2)) == (b"0", None, b"2")


def test_disk_hit_in_a_fresh_process(tmp_path):
    k = key("graph text")
    CompileCache(tmp_path).put(k, _payload(k))
    proc = _run("""
        import sys
        from tracejit.runtime.cache import CompileCache
        c = CompileCache(sys.argv[1])
        payload = c.get(sys.argv[2])
        again = c.get(sys.argv[2])
        print(payload.hex(), again == payload, c.stats.hits, c.stats.disk_hits, c.stats.misses)
    """, str(tmp_path), k)
    payload, same, hits, disk_hits, misses = proc.stdout.split()
    assert bytes.fromhex(payload) == _payload(k)
    assert (same, hits, disk_hits, misses) == ("True", "2", "1", "0")  # second get from memory


def test_keys_are_validated(tmp_path):
    c = CompileCache(tmp_path)
    for bad in ("../../etc/passwd", "ABC", key("a").upper(), key("a")[:-1], 42):
        with pytest.raises(ValueError, match=r"64 lowercase hex digits from"):
            c.get(bad)
        with pytest.raises(ValueError, match=r"64 lowercase hex digits from"):
            c.put(bad, b"")


# -- corrupt entries --------------------------------------------------------------------------


def _truncate_payload(data: bytes) -> bytes:
    return data[:-10]


def _truncate_header(data: bytes) -> bytes:
    return data[:HEADER.size // 2]


def _flip_payload_byte(data: bytes) -> bytes:
    i = HEADER.size + 3
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def _wrong_magic(data: bytes) -> bytes:
    return b"NOTCACHE" + data[8:]


def _wrong_length(data: bytes) -> bytes:
    magic, version, length, k, digest = HEADER.unpack(data[:HEADER.size])
    return HEADER.pack(magic, version, length - 1, k, digest) + data[HEADER.size:]


def _wrong_version(data: bytes) -> bytes:
    magic, version, length, k, digest = HEADER.unpack(data[:HEADER.size])
    return HEADER.pack(magic, version + 1, length, k, digest) + data[HEADER.size:]


def _trailing_garbage(data: bytes) -> bytes:
    return data + b"\0"


def _empty(data: bytes) -> bytes:
    return b""


CORRUPTIONS = [_truncate_payload, _truncate_header, _flip_payload_byte, _wrong_magic,
               _wrong_length, _wrong_version, _trailing_garbage, _empty]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
def test_a_corrupt_entry_is_ignored_removed_and_rebuilt(tmp_path, corrupt):
    k = key("graph")
    CompileCache(tmp_path).put(k, _payload(k))
    path = _entry(tmp_path, k)
    path.write_bytes(corrupt(path.read_bytes()))
    c = CompileCache(tmp_path)  # empty memory layer: the get goes to disk
    assert c.get(k) is None
    assert (c.stats.corrupt, c.stats.misses, c.stats.hits) == (1, 1, 0)
    assert not path.exists(), "a rejected entry is removed"
    c.put(k, _payload(k))
    fresh = CompileCache(tmp_path)
    assert fresh.get(k) == _payload(k)
    assert (fresh.stats.disk_hits, fresh.stats.corrupt) == (1, 0)


def test_put_overwrites_a_corrupt_entry_it_never_read(tmp_path):
    k = key("graph")
    _entry(tmp_path, k).write_bytes(b"garbage")
    CompileCache(tmp_path).put(k, b"good")
    assert CompileCache(tmp_path).get(k) == b"good"


def test_an_entry_under_another_keys_name_is_rejected(tmp_path):
    a, b = key("a"), key("b")
    CompileCache(tmp_path).put(a, b"code of a")
    os.replace(_entry(tmp_path, a), _entry(tmp_path, b))
    c = CompileCache(tmp_path)
    assert c.get(b) is None
    assert c.stats.corrupt == 1


# -- keys -------------------------------------------------------------------------------------


def test_key_is_a_stable_hex_digest_of_text_and_extra():
    k = key("graph @f")
    assert len(k) == 64 and int(k, 16) >= 0
    assert key("graph @f") == k
    assert key("graph @g") != k
    assert key("graph @f", extra=("opt=3",)) != k
    assert key("graph @f", extra=("opt=3",)) != key("graph @f", extra=("opt=2",))
    assert key("graph @f", extra=(1, 2)) != key("graph @f", extra=((1, 2),))
    assert key("ab", extra=("c",)) != key("a", extra=("bc",))  # parts are length-prefixed


@pytest.mark.parametrize("position", range(4), ids=["cpu", "features", "llvmlite", "tracejit"])
def test_key_changes_with_the_host_and_versions(monkeypatch, position):
    before = key("graph")
    parts = list(cache._host_parts())
    parts[position] += "-other"
    monkeypatch.setattr(cache, "_host_parts", lambda: tuple(parts))
    assert key("graph") != before


def test_key_hashes_the_real_host_and_versions():
    import llvmlite
    import llvmlite.binding as llvm

    cpu, features, llvmlite_version, tracejit_version = cache._host_parts()
    assert cpu == llvm.get_host_cpu_name()
    assert features == llvm.get_host_cpu_features().flatten()
    assert llvmlite_version == llvmlite.__version__
    assert tracejit_version != "unknown"  # the test suite runs on an installed tracejit


# -- the environment --------------------------------------------------------------------------


def test_cache_directory_follows_the_environment(tmp_path, monkeypatch):
    # the default comes from platformdirs, which reads the process environment (Linux: XDG)
    home = Path.home()
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_directory({}) == home / ".cache" / "tracejit"
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert cache.cache_directory({}) == Path("/xdg/tracejit")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # the XDG spec: relative paths are ignored
    assert cache.cache_directory({}) == home / ".cache" / "tracejit"
    env = {"XDG_CACHE_HOME": "/xdg", "TRACEJIT_CACHE_DIR": str(tmp_path)}
    assert cache.cache_directory(env) == tmp_path
    assert cache.cache_directory({"TRACEJIT_CACHE_DIR": "~/tj"}) == home / "tj"
    for off in ("off", "", "  "):
        assert cache.cache_directory({"TRACEJIT_CACHE_DIR": off}) is None


@pytest.fixture
def fresh_default(monkeypatch):
    """default_cache() as at first use in a new process."""
    monkeypatch.setattr(cache, "_default", None)
    for name in ("TRACEJIT_CACHE_DIR", "TRACEJIT_CACHE_MAX_BYTES", "TRACEJIT_CACHE_MAX_ENTRIES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_cache_uses_tracejit_cache_dir(fresh_default, tmp_path):
    fresh_default.setenv("TRACEJIT_CACHE_DIR", str(tmp_path / "tj"))
    fresh_default.setenv("TRACEJIT_CACHE_MAX_ENTRIES", "7")
    c = cache.default_cache()
    assert c is cache.default_cache()
    assert (c.directory, c.max_entries, c.max_bytes) == (tmp_path / "tj", 7,
                                                         cache.DEFAULT_MAX_BYTES)
    c.put(key("a"), b"x")
    assert _entry(tmp_path / "tj", key("a")).exists()


@pytest.mark.parametrize("value", ["off", ""])
def test_default_cache_off_keeps_memory_only(fresh_default, value):
    fresh_default.setenv("TRACEJIT_CACHE_DIR", value)
    c = cache.default_cache()
    assert c.directory is None
    c.put(key("a"), b"x")
    assert c.get(key("a")) == b"x"


def test_default_cache_follows_xdg(fresh_default, tmp_path):
    fresh_default.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.default_cache().directory == tmp_path / "tracejit"


def test_a_bad_size_setting_warns_and_uses_the_default(fresh_default, tmp_path):
    fresh_default.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    fresh_default.setenv("TRACEJIT_CACHE_MAX_BYTES", "lots")
    with pytest.warns(CacheWarning, match="TRACEJIT_CACHE_MAX_BYTES='lots' is not an integer"):
        c = cache.default_cache()
    assert c.max_bytes == cache.DEFAULT_MAX_BYTES


# -- unwritable directories -------------------------------------------------------------------


def _assert_memory_only(c: CompileCache, *, puts: int = 3) -> None:
    for i in range(puts):
        c.put(key(str(i)), b"x")  # no further warning
    assert c.directory is None
    assert c.get(key("0")) == b"x"


def test_read_only_directory_warns_once_then_memory_only(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: a read-only directory is still writable")
        with pytest.warns(CacheWarning, match=r"is not writable; caching in memory only") as w:
            c = CompileCache(ro)
            _assert_memory_only(c)
        assert len(w) == 1
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_a_directory_reported_unwritable_warns_once(tmp_path, monkeypatch):
    # The read-only test above skips as root; this reaches the same branch on any user.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.warns(CacheWarning, match=r"is not writable; caching in memory only") as w:
        c = CompileCache(tmp_path)
        _assert_memory_only(c)
    assert len(w) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_cannot_be_created_warns_once(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.warns(CacheWarning, match=r"cannot create .*file/cache: .*memory only") as w:
        c = CompileCache(tmp_path / "file" / "cache")
        _assert_memory_only(c)
    assert len(w) == 1
    assert "TRACEJIT_CACHE_DIR" in str(w[0].message)


def test_a_failing_write_warns_once_then_memory_only(tmp_path):
    # Works as root too: the directory becomes a file after the cache checked it.
    c = CompileCache(tmp_path / "cache")
    (tmp_path / "cache").rmdir()
    (tmp_path / "cache").write_text("")
    with pytest.warns(CacheWarning, match=r"cannot write to .*cache: .*memory only") as w:
        _assert_memory_only(c)
    assert len(w) == 1


# -- concurrency ------------------------------------------------------------------------------

WRITER = """
    import random, sys
    from tracejit.runtime.cache import CompileCache, key

    directory, worker = sys.argv[1], int(sys.argv[2])
    keys = [key(f"graph {i}") for i in range(12)]
    def payload(k):
        seed = bytes.fromhex(k)
        return (seed * 2048)[: 20000 + int(k[:4], 16)]   # 20-85 KB, different per key
    rng = random.Random(worker)
    corrupt = 0
    for _ in range(4):
        rng.shuffle(keys)
        for k in keys:
            c = CompileCache(directory, memory_entries=0)   # every get goes to disk
            got = c.get(k)
            assert got is None or got == payload(k), "a reader saw a partial or foreign entry"
            c.put(k, payload(k))
            corrupt += c.stats.corrupt
    print(corrupt)
"""


def test_concurrent_processes_share_one_directory(tmp_path):
    workers = [_spawn(WRITER, str(tmp_path), str(i)) for i in range(4)]
    for proc in workers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.split() == ["0"], "no process ever saw a corrupt entry"
    c = CompileCache(tmp_path, memory_entries=0)
    keys = [key(f"graph {i}") for i in range(12)]
    for k in keys:
        seed = bytes.fromhex(k)
        assert c.get(k) == (seed * 2048)[: 20000 + int(k[:4], 16)]
    assert (c.stats.disk_hits, c.stats.corrupt) == (12, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(k + cache.SUFFIX for k in keys)


def test_concurrent_threads_share_one_cache(tmp_path):
    c = CompileCache(tmp_path, memory_entries=4)
    keys = [key(str(i)) for i in range(16)]
    errors = []

    def work():
        try:
            for _ in range(5):
                for k in keys:
                    got = c.get(k)
                    assert got is None or got == _payload(k)
                    c.put(k, _payload(k))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert c.stats.corrupt == 0
    assert all(CompileCache(tmp_path).get(k) == _payload(k) for k in keys)


# -- the size bound ---------------------------------------------------------------------------


def _put_aged(c: CompileCache, k: str, age: float, size: int = 1000) -> None:
    """Put, then date the entry `age` seconds back, so eviction order does not hang on the clock."""
    c.put(k, _payload(k, size))
    stamp = time.time() - age
    os.utime(_entry(c.directory, k), (stamp, stamp))


def _on_disk(directory: Path) -> set[str]:
    return {p.name.removesuffix(cache.SUFFIX) for p in directory.glob("*" + cache.SUFFIX)}


def test_eviction_keeps_the_newest_max_entries(tmp_path):
    c = CompileCache(tmp_path, max_entries=3)
    keys = [key(str(i)) for i in range(5)]
    for age, k in zip(range(50, 0, -10), keys):
        _put_aged(c, k, age)
    assert _on_disk(tmp_path) == set(keys[2:])
    assert c.stats.evictions == 2
    assert c.get(keys[0]) == _payload(keys[0]), "evicted from disk, still in memory"


def test_eviction_keeps_within_max_bytes(tmp_path):
    entry_size = HEADER.size + 1000
    c = CompileCache(tmp_path, max_bytes=int(2.5 * entry_size))
    keys = [key(str(i)) for i in range(4)]
    for age, k in zip(range(40, 0, -10), keys):
        _put_aged(c, k, age)
    assert _on_disk(tmp_path) == set(keys[2:])


def test_a_disk_hit_counts_as_a_use_for_eviction(tmp_path):
    c = CompileCache(tmp_path, max_entries=3)
    k0, k1, k2, k3 = (key(str(i)) for i in range(4))
    for age, k in ((30, k0), (20, k1), (10, k2)):
        _put_aged(c, k, age)
    assert CompileCache(tmp_path).get(k0) is not None  # refreshes k0's mtime
    c.put(k3, _payload(k3))
    assert _on_disk(tmp_path) == {k0, k2, k3}


def test_the_entry_just_written_survives_a_clock_tie(tmp_path):
    c = CompileCache(tmp_path, max_entries=1)
    old, new = key("old"), key("new")
    c.put(old, b"old")
    stamp = time.time() + 100  # the old entry looks newer than anything written now
    os.utime(_entry(tmp_path, old), (stamp, stamp))
    c.put(new, b"new")
    assert _on_disk(tmp_path) == {new}


def test_a_large_bound_scans_the_directory_only_now_and_then(tmp_path, monkeypatch):
    scans = []
    monkeypatch.setattr(cache, "_own_files", lambda directory: scans.append(1) or [])
    monkeypatch.setattr(cache, "_rng", random.Random(0))
    c = CompileCache(tmp_path, max_entries=20 * cache.EVICTION_SLACK)  # p = 1/20 per put
    for i in range(100):
        c.put(key(str(i)), b"x")
    assert 1 <= len(scans) <= 20  # expected 5


def test_a_payload_over_max_bytes_stays_in_memory(tmp_path):
    c = CompileCache(tmp_path, max_bytes=100)
    c.put(key("big"), bytes(200))
    assert _on_disk(tmp_path) == set()
    assert c.get(key("big")) == bytes(200)


def test_eviction_and_clear_touch_only_cache_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    stale = tmp_path / (cache.TEMP_PREFIX + "dead" + cache.SUFFIX)
    live = tmp_path / (cache.TEMP_PREFIX + "live" + cache.SUFFIX)
    stale.write_bytes(b"partial")
    live.write_bytes(b"partial")
    long_ago = time.time() - 2 * cache.STALE_TEMP_SECONDS
    os.utime(stale, (long_ago, long_ago))
    c = CompileCache(tmp_path, max_entries=1)
    c.put(key("a"), b"a")
    assert not stale.exists(), "a temp file of a writer that died is removed"
    assert live.exists(), "a temp file another process may be writing is left alone"
    c.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert c.get(key("a")) is None


# -- a real object file -----------------------------------------------------------------------

ADD1 = """\
define i64 @add1(i64 %x) {
  %r = add i64 %x, 1
  ret i64 %r
}
"""

LOAD_AND_CALL = """
    import ctypes, sys
    import llvmlite.binding as llvm
    from tracejit.runtime.cache import CompileCache, key

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    c = CompileCache(sys.argv[1])
    code = c.get(key(sys.argv[2]))
    assert code is not None and c.stats.disk_hits == 1
    # The engine owns its TargetMachine: never share it with emit_object or the pass builder.
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, jit=True)
    empty = llvm.parse_assembly("")
    empty.triple = llvm.get_process_triple()
    engine = llvm.create_mcjit_compiler(empty, tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(code))
    engine.finalize_object()
    add1 = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(engine.get_function_address("add1"))
    print(add1(41))
"""


def test_an_object_file_round_trips_through_the_disk_cache(tmp_path):
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    emit_tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)
    module = llvm.parse_assembly(ADD1)
    module.triple = llvm.get_process_triple()
    module.data_layout = str(emit_tm.target_data)
    module.verify()
    CompileCache(tmp_path).put(key(ADD1), emit_tm.emit_object(module))
    assert _run(LOAD_AND_CALL, str(tmp_path), ADD1).stdout.split() == ["42"]


def test_the_version_comes_from_the_installed_metadata():
    from importlib.metadata import version

    assert cache._tracejit_version() == version("tracejit")


# -- optimized graphs (graph_cache.py) --------------------------------------------------------

# A traced function in a file of its own: its source locations, part of the graph text, are the
# same in every process. Prints the graph cache's and the object cache's counters.
TRACE_SCRIPT = """\
import sys
import numpy as np
import tracejit
import tracejit.nn.functional as F
from tracejit.runtime import cache, graph_cache, jit

def f(x, a, b):
    return F.gelu(x * a + b, approximate="tanh")

args = [tracejit.from_numpy(np.linspace(-3, 3, 64, dtype=np.float32) + k) for k in range(3)]
traced = tracejit.trace(f, *args, pipeline=sys.argv[1] if len(sys.argv) > 1 else
                        tracejit.passes.DEFAULT_PIPELINE)
out = traced(*args).numpy()
stats = graph_cache.stats
print(stats["hits"], stats["misses"], stats["rejected"], cache.default_cache().stats.corrupt,
      "pass_tm" in vars(jit.engine()), float(out.sum()))
print(traced.optimized_graph, end="")
"""


def _trace_in_a_fresh_process(script: Path, directory: Path | str,
                              *args: str) -> tuple[list, str]:
    env = {**os.environ, "TRACEJIT_CACHE_DIR": str(directory)}
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    counters, _, graph = proc.stdout.partition("\n")
    return counters.split(), graph


@pytest.fixture
def trace_script(tmp_path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(TRACE_SCRIPT)
    return path


def _graph_entries(directory: Path) -> list[Path]:
    """The cache's graph entries: those holding IR text rather than object code."""
    return [p for p in directory.glob("*" + cache.SUFFIX)
            if p.read_bytes()[HEADER.size:].startswith(b"graph @")]


def test_an_optimized_graph_is_reused_by_the_next_process(trace_script, tmp_path):
    first, graph = _trace_in_a_fresh_process(trace_script, tmp_path / "c")
    # hits, misses, rejected, corrupt, pass TargetMachine made, result
    assert first[:5] == ["0", "1", "0", "0", "True"]
    second, again = _trace_in_a_fresh_process(trace_script, tmp_path / "c")
    # the pipeline and the LLVM optimizer did not run: the process never made their machine
    assert second[:5] == ["1", "0", "0", "0", "False"]
    assert second[5] == first[5] and again == graph
    assert "fused" in graph and len(_graph_entries(tmp_path / "c")) == 1


@pytest.mark.parametrize("corrupt", [_flip_payload_byte, _truncate_payload],
                         ids=lambda f: f.__name__.strip("_"))
def test_a_corrupt_graph_entry_is_ignored_and_rebuilt(trace_script, tmp_path, corrupt):
    first, graph = _trace_in_a_fresh_process(trace_script, tmp_path)
    (entry,) = _graph_entries(tmp_path)
    entry.write_bytes(corrupt(entry.read_bytes()))
    second, again = _trace_in_a_fresh_process(trace_script, tmp_path)
    assert second[:4] == ["0", "1", "0", "1"]  # the checksum failed: a miss, then rebuilt
    assert (second[5], again) == (first[5], graph)
    third, _ = _trace_in_a_fresh_process(trace_script, tmp_path)
    assert third[:4] == ["1", "0", "0", "0"]


def test_a_graph_entry_that_does_not_parse_or_fit_is_rebuilt(trace_script, tmp_path):
    first, graph = _trace_in_a_fresh_process(trace_script, tmp_path)
    (entry,) = _graph_entries(tmp_path)
    k = entry.name.removesuffix(cache.SUFFIX)
    wrong = graph.replace("float32[64]", "float32[65]", 1)  # whole and checksummed, but wrong
    for payload in (b"graph @f(%x: nonsense", wrong.encode(), b"\xff\xfe"):
        CompileCache(tmp_path).put(k, payload)
        counters, again = _trace_in_a_fresh_process(trace_script, tmp_path)
        assert counters[:4] == ["0", "1", "1", "0"], payload
        assert (counters[5], again) == (first[5], graph)
        assert entry.read_bytes()[HEADER.size:] == graph.encode()  # rewritten


def test_the_pipeline_is_part_of_the_graph_key(trace_script, tmp_path):
    _trace_in_a_fresh_process(trace_script, tmp_path)
    other, graph = _trace_in_a_fresh_process(trace_script, tmp_path, "dce,cse")
    assert other[:2] == ["0", "1"] and "fused" not in graph
    assert len(_graph_entries(tmp_path)) == 2


def _captured(fn, *arrays):
    import tracejit

    return tracejit.trace(fn, *[tracejit.from_numpy(a) for a in arrays], backend="eager").graph


def test_graph_keys_change_with_the_text_pipeline_constants_and_sources(monkeypatch):
    import numpy as np

    from tracejit.ir.printer import print_graph
    from tracejit.passes import DEFAULT_PIPELINE
    from tracejit.runtime import graph_cache

    x = np.ones(4, np.float32)
    graph = _captured(lambda x: x * 2 + 1, x)
    text = print_graph(graph)
    k = graph_cache.entry_key(graph, text, DEFAULT_PIPELINE)
    assert k == graph_cache.entry_key(graph, text, DEFAULT_PIPELINE)
    assert k != graph_cache.entry_key(graph, text.replace("2.0", "3.0"), DEFAULT_PIPELINE)
    assert k != graph_cache.entry_key(graph, text, "dce,cse,fuse")
    assert graph_cache.entry_key(graph, text, "") is None  # nothing to cache
    graph.constants["w"] = np.zeros(3, np.float32)
    with_w = graph_cache.entry_key(graph, text, DEFAULT_PIPELINE)
    graph.constants["w"] = np.ones(3, np.float32)
    assert len({k, with_w, graph_cache.entry_key(graph, text, DEFAULT_PIPELINE)}) == 3
    graph.constants["w"] = np.zeros(graph_cache.CONSTANT_BYTES // 4 + 1, np.float32)
    assert graph_cache.entry_key(graph, text, DEFAULT_PIPELINE) is None  # too big to hash
    del graph.constants["w"]
    monkeypatch.setattr(graph_cache, "source_digest", lambda: "edited passes")
    assert graph_cache.entry_key(graph, text, DEFAULT_PIPELINE) != k


def test_a_pass_registered_outside_tracejit_is_never_cached(monkeypatch):
    import numpy as np

    from tracejit.ir.printer import print_graph
    from tracejit.passes import PASSES
    from tracejit.runtime import graph_cache

    graph = _captured(lambda x: x + 1, np.ones(2, np.float32))
    monkeypatch.setitem(PASSES, "mine", lambda graph, options: False)
    assert graph_cache.entry_key(graph, print_graph(graph), "dce,mine") is None


def test_the_same_graph_traced_twice_in_a_process_hits_memory(fresh_default, tmp_path):
    import numpy as np

    import tracejit
    from tracejit.runtime import graph_cache

    fresh_default.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    x = tracejit.from_numpy(np.arange(6, dtype=np.float32))

    def f(x):
        return (x * 2).exp() + 1

    before = dict(graph_cache.stats)
    first = tracejit.trace(f, x)
    for entry in tmp_path.iterdir():
        entry.unlink()  # a second hit cannot come from disk
    second = tracejit.trace(f, x)
    assert graph_cache.stats["misses"] - before["misses"] == 1
    assert graph_cache.stats["hits"] - before["hits"] == 1
    assert cache.default_cache().stats.disk_hits == 0
    assert str(second.optimized_graph) == str(first.optimized_graph)
    assert second.optimized_graph is not first.optimized_graph  # each its own copy
    np.testing.assert_array_equal(second(x).numpy(), first(x).numpy())


def test_watching_the_passes_runs_them(fresh_default, tmp_path, caplog):
    import logging

    import numpy as np

    import tracejit
    from tracejit.runtime import graph_cache

    fresh_default.setenv("TRACEJIT_CACHE_DIR", str(tmp_path))
    x = tracejit.from_numpy(np.arange(6, dtype=np.float32))

    def g(x):
        return x * 3 - 1

    tracejit.trace(g, x)
    hits = graph_cache.stats["hits"]
    with caplog.at_level(logging.INFO, logger="tracejit.passes"):
        tracejit.trace(g, x)
    assert graph_cache.stats["hits"] == hits
    assert any(r.message.startswith("fuse:") for r in caplog.records)


def test_with_the_disk_cache_off_every_process_runs_the_pipeline(trace_script, tmp_path):
    for _ in range(2):
        counters, _ = _trace_in_a_fresh_process(trace_script, "off")
        assert counters[:2] == ["0", "1"]


# -- entries that are not regular files: a miss, never a hang ---------------------------------


def _non_regular(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    else:  # larger than the cache ever writes
        path.write_bytes(bytes(5000))


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("kind", ["fifo", "directory", "link_to_dev_zero", "oversized"])
def test_an_entry_that_is_not_a_regular_file_is_a_logged_miss(tmp_path, kind, caplog):
    c = CompileCache(tmp_path, max_bytes=4096, memory_entries=0)
    k = key(f"graph {kind}")
    path = _entry(tmp_path, k)
    _non_regular(kind, path)
    result = {}
    reader = threading.Thread(target=lambda: result.update(got=c.get(k)), daemon=True)
    with caplog.at_level("WARNING", logger="tracejit.cache"):
        reader.start()
        reader.join(20)
    assert not reader.is_alive(), "reading the entry blocked"
    assert result == {"got": None}
    assert (c.stats.misses, c.stats.corrupt) == (1, 1)
    assert any(str(path) in r.getMessage() and "not a regular file" in r.getMessage()
               for r in caplog.records)
    if kind != "directory":  # removed, so that the next put writes a real entry
        c.put(k, b"code")
        assert CompileCache(tmp_path).get(k) == b"code"
