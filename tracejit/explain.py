"""`tracejit.explain(fn, *args, **kwargs)`: what `tracejit.compile` makes of one call, after
`torch._dynamo.explain`: the graphs it captured, each graph break (reason, file:line:col, the
source line, the user call stack), the ops and fused groups of each graph, and the guards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tracejit.breaks import Break
from tracejit.ir.ops import Op


@dataclass
class GraphReport:
    """One captured graph: where it came from, its ops and fused groups."""

    name: str
    signature: str
    ops: dict[str, int]  # op name -> count, in the optimized graph (fused bodies inside)
    fused_groups: int
    guards: list[str]
    code: str = field(repr=False, default="")

    @property
    def op_count(self) -> int:
        return sum(self.ops.values())

    def to_dict(self) -> dict:
        return {"name": self.name, "signature": self.signature, "ops": dict(self.ops),
                "op_count": self.op_count, "fused_groups": self.fused_groups,
                "guards": list(self.guards)}


@dataclass
class ExplainReport:
    """What `tracejit.explain` found; `str()` reads it, `.to_dict()` gives JSON-ready data."""

    graphs: list[GraphReport]
    breaks: list[Break]
    result: Any = field(repr=False, default=None)

    @property
    def graph_count(self) -> int:
        return len(self.graphs)

    @property
    def graph_break_count(self) -> int:
        return len(self.breaks)

    @property
    def break_reasons(self) -> list[Break]:
        return self.breaks

    @property
    def ops_per_graph(self) -> list[dict[str, int]]:
        return [g.ops for g in self.graphs]

    @property
    def guards(self) -> list[str]:
        return [guard for g in self.graphs for guard in g.guards]

    def to_dict(self) -> dict:
        return {"graph_count": self.graph_count, "graph_break_count": self.graph_break_count,
                "graphs": [g.to_dict() for g in self.graphs],
                "breaks": [b.to_dict() for b in self.breaks]}

    def __str__(self) -> str:
        lines = [f"Graph count: {self.graph_count}",
                 f"Graph break count: {self.graph_break_count}"]
        if self.breaks:
            lines.append("Break reasons:")
            for k, b in enumerate(self.breaks, 1):
                lines.append(f"  {k}. {b.file}:{b.line}:{b.col}: {b.reason}")
                if b.source_line:
                    lines.append(f"       {b.source_line.strip()}")
                if len(b.stack) > 1:
                    lines.append("       user stack: " + " -> ".join(b.stack))
        for k, g in enumerate(self.graphs, 1):
            ops = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in g.ops.items())
            lines.append(f"Graph {k}: {g.name} {g.signature}")
            lines.append(f"  {g.op_count} ops ({g.fused_groups} fused groups): {ops}")
            for guard in g.guards:
                lines.append(f"  guard: {guard}")
        return "\n".join(lines)


def explain(fn, *args, **kwargs) -> ExplainReport:
    """Compile `fn` afresh, call it once with these arguments, and report what was captured
    (graphs, ops, fused groups, guards) and where and why the function broke. Its result is
    `report.result`. A compiled function or module may be passed: its original is used."""
    import inspect

    from tracejit.compiler import CompiledFunction, CompiledMethod, CompiledModule

    if isinstance(fn, CompiledModule):
        fn = fn.module
    elif isinstance(fn, CompiledMethod):
        fn = getattr(fn.__self__, fn._compiled._fn.__name__)
    elif isinstance(fn, CompiledFunction):
        fn = fn._module if fn._module is not None else fn._fn
    from tracejit.nn.module import Module
    from tracejit.script_source import unwrap_library

    fn = unwrap_library(fn)
    if isinstance(fn, Module):
        compiled = CompiledModule(fn, fresh=True)
    elif inspect.ismethod(fn) and not (isinstance(fn.__self__, Module) and
                                       fn.__func__ is type(fn.__self__).forward):
        compiled = CompiledMethod(fn.__self__, CompiledFunction(unwrap_library(fn.__func__),
                                                                fresh=True))
    elif inspect.ismethod(fn):
        compiled = CompiledModule(fn.__self__, fresh=True)
    else:
        compiled = CompiledFunction(fn, fresh=True)
    result = compiled(*args, **kwargs)
    inner = compiled if isinstance(compiled, CompiledFunction) else compiled._compiled
    graphs: list[GraphReport] = []
    breaks: list[Break] = []
    _collect(inner, graphs, breaks)
    seen: dict[tuple, Break] = {}  # one statement breaking in two instances is one break
    for b in breaks:
        seen.setdefault((b.file, b.line, b.col, b.reason), b)
    return ExplainReport(graphs, list(seen.values()), result)


def _collect(compiled, graphs: list, breaks: list) -> None:
    from tracejit.regions import Region, describe_guards

    breaks.extend(compiled.breaks)
    for piece in compiled.pieces():
        script = piece.script if isinstance(piece, Region) else piece
        name = piece.name if isinstance(piece, Region) else compiled._name
        for spec in list(script._cache.values()):
            ops = Counter()
            fused = 0
            for op in spec.optimized.walk():
                if op.op in (Op.RETURN, Op.YIELD):
                    continue
                if op.op is Op.FUSED:
                    fused += 1
                ops[str(op.op.value)] += 1
            if not ops:
                continue  # a run of Python values only: nothing for a kernel to do
            graphs.append(GraphReport(name, spec.signature, dict(ops), fused,
                                      describe_guards(script, spec), str(spec.optimized)))
    for _, child in compiled._subs.values():
        _collect(child, graphs, breaks)
