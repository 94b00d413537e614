"""The process-wide llvmlite JIT: one MCJIT engine, modules optimized at O3 and added to it.

Follows the traps TOOLCHAIN.md measured: only `initialize_native_target/asmprinter`; every
module verified before it is optimized; the engine owns its own TargetMachine, and the pass
builder uses another; each kernel is a uniquely named module added to the one engine.
"""

from __future__ import annotations

import itertools
import threading
import time

import llvmlite.binding as llvm

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
        target = llvm.Target.from_triple(self.triple)
        make = lambda: target.create_target_machine(  # noqa: E731
            cpu=self.cpu, features=self.features, opt=3, jit=True)
        self.pass_tm = make()
        backing = llvm.parse_assembly("")
        backing.triple = self.triple
        self.engine = llvm.create_mcjit_compiler(backing, make())  # takes that machine
        self.data_layout = str(self.pass_tm.target_data)
        self.modules: list = []  # keep every module alive as long as the engine
        self.names = itertools.count()
        self.compile_seconds = 0.0

    def fresh_name(self, stem: str) -> str:
        return f"{stem}_{next(self.names)}"

    def compile(self, ir_text: str, names: list[str]) -> dict[str, int]:
        """Optimize and add one module; the addresses of the functions named `names`."""
        start = time.perf_counter()
        with _lock:
            module = llvm.parse_assembly(ir_text)
            module.triple = self.triple
            module.data_layout = self.data_layout
            module.verify()
            options = llvm.create_pipeline_tuning_options(speed_level=3)
            options.loop_vectorization = True
            options.slp_vectorization = True
            builder = llvm.create_pass_builder(self.pass_tm, options)
            builder.getModulePassManager().run(module, builder)
            self.engine.add_module(module)
            self.engine.finalize_object()
            self.modules.append(module)
            addresses = {n: self.engine.get_function_address(n) for n in names}
        self.compile_seconds += time.perf_counter() - start
        return addresses


def engine() -> Engine:
    """The process-wide engine, created on first use."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = Engine()
    return _engine
