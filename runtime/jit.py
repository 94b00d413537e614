"""The process-wide llvmlite JIT: one MCJIT engine, kernels optimized at O3 and added to it as
object code, through the compile cache (cache.py): a kernel compiled once, by any process on
this machine, loads from disk in milliseconds.

Follows the traps TOOLCHAIN.md measured: only `initialize_native_target/asmprinter`; every
module verified before it is optimized; the engine owns its own TargetMachine, the pass builder
and `emit_object` use others. Kernel names are derived from their IR text, so the same kernel
has the same name (and cache key) in every process.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time

import llvmlite.binding as llvm

from . import cache

PLACEHOLDER = "KERNEL"  # the stem lowering gives function names; replaced by a text digest
PIPELINE = ("O3", "loop-vectorize", "slp-vectorize")  # what else decides the machine code

_lock = threading.Lock()
_engine: Engine | None = None


class Engine:
    """Compiles LLVM IR text to native functions of this CPU."""

    def __init__(self):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.triple = llvm.get_process_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        backing = llvm.parse_assembly("")
        backing.triple = self.triple
        self.engine = llvm.create_mcjit_compiler(backing, self._machine())  # takes that machine
        self.loaded: set[str] = set()  # cache keys of the objects added to the engine
        self.compile_seconds = 0.0
        self.stats = {"compiled": 0, "loaded": 0}

    def _machine(self) -> llvm.TargetMachine:
        return llvm.Target.from_triple(self.triple).create_target_machine(
            cpu=self.cpu, features=self.features, opt=3, jit=True)

    # made on first use: a process that only loads cached objects never needs them
    @functools.cached_property
    def pass_tm(self) -> llvm.TargetMachine:
        return self._machine()

    @functools.cached_property
    def object_tm(self) -> llvm.TargetMachine:
        return self._machine()

    @functools.cached_property
    def data_layout(self) -> str:
        return str(self.pass_tm.target_data)

    def compile(self, ir_text: str, names: list[str]) -> dict[str, int]:
        """The addresses of the functions `names` defined by `ir_text` (LLVM IR, its functions
        named with `PLACEHOLDER` as their stem), compiled or loaded from the cache; the names
        come back with the placeholder replaced by a digest of the text."""
        digest = hashlib.sha256(ir_text.encode()).hexdigest()[:24]
        ir_text = ir_text.replace(PLACEHOLDER, f"k{digest}")
        names = [n.replace(PLACEHOLDER, f"k{digest}") for n in names]
        start = time.perf_counter()
        with _lock:
            cache_key = cache.key(ir_text, extra=PIPELINE)
            if cache_key not in self.loaded:
                store = cache.default_cache()
                code = store.get(cache_key)
                if code is None:
                    code = self._object_code(ir_text)
                    store.put(cache_key, code)
                    self.stats["compiled"] += 1
                else:
                    self.stats["loaded"] += 1
                self.engine.add_object_file(llvm.ObjectFileRef.from_data(code))
                self.engine.finalize_object()
                self.loaded.add(cache_key)
            addresses = {n: self.engine.get_function_address(n) for n in names}
        self.compile_seconds += time.perf_counter() - start
        return dict(zip(names, addresses.values()))

    def optimized(self, ir_text: str) -> llvm.ModuleRef:
        """`ir_text` parsed for this host, verified, and run through the O3 pipeline."""
        module = llvm.parse_assembly(ir_text)
        module.triple = self.triple
        module.data_layout = self.data_layout
        module.verify()  # unverified IR can crash the optimizer (TOOLCHAIN.md)
        options = llvm.create_pipeline_tuning_options(speed_level=3)
        options.loop_vectorization = True
        options.slp_vectorization = True
        builder = llvm.create_pass_builder(self.pass_tm, options)
        builder.getModulePassManager().run(module, builder)
        return module

    def assembly(self, ir_text: str) -> str:
        """The host assembly of `ir_text` after optimization (to check what vectorizes)."""
        with _lock:
            return self.pass_tm.emit_assembly(self.optimized(ir_text))

    def _object_code(self, ir_text: str) -> bytes:
        return self.object_tm.emit_object(self.optimized(ir_text))


def engine() -> Engine:
    """The process-wide engine, created on first use."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = Engine()
    return _engine
