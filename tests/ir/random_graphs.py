"""A hypothesis strategy for random valid graphs, built from the op table.

`graphs()` draws a Graph: typed inputs, then a chain of ops. Each op is picked from the op table
and given operands its shape rule accepts (existing values, or fresh constants of the type it
needs) and attributes from a per-op recipe; `complete_attrs` checks them and `infer_types` gives
the result types, or rejects the draw and the op is skipped. Now and then a sub-chain goes into
a `fused` op whose isolated block ends in `yield`. `example_inputs` makes arrays to run it on.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tracejit.ir import OPS, DType, Op, TensorType, complete_attrs, infer_types
from tracejit.ir.graph import Block, ConstRef, Graph, Literal, Loc, Operation, ScalarType, Value
from tracejit.ir.ops import Kind

GRAPH_NAMES = ["forward", "f", "<lambda>", "a b", "0.g", ""]
VALUE_HINTS = [None, None, None, None, "x", "x_1", "h", "fc.out", "_", "0a", "1.5"]
CONST_NAMES = ["w", "0.weight", "a b", "fc.bias", 'q"uote', "ü"]
FILES = ["model.py", "dir/with space.py", 'q"uote.py', "ünï.py", "<string>", "back\\slash", ""]
SPECIAL_FLOATS = [0.0, -0.0, 0.1, 1e30, -1e-30, 3.4028235e38, 1e-45, np.nan, np.inf, -np.inf]
FLOAT_DTYPES = [DType.float32, DType.float64]
INT_DTYPES = [DType.int32, DType.int64]
STRUCTURE = {Op.FUSED, Op.YIELD, Op.RETURN}
CAUGHT = (TypeError, ValueError, RuntimeError, IndexError)  # what infer_types raises


def tensor_types(max_ndim: int = 4) -> st.SearchStrategy[TensorType]:
    dims = st.lists(st.sampled_from([1, 2, 3, 3, 0]), max_size=max_ndim)
    return st.builds(lambda d, s: TensorType(d, tuple(s)), st.sampled_from(list(DType)), dims)


@st.composite
def graphs(draw, max_ops: int = 6) -> Graph:
    """A random graph that verifies; its constants dict holds the data of its @names."""
    return _Builder(draw).graph(max_ops)


def example_inputs(graph: Graph, seed: int = 0) -> list:
    """Arrays (and Python numbers for scalar inputs) matching the graph's input types."""
    rng = np.random.default_rng(seed)
    out = []
    for t in graph.input_types:
        if isinstance(t, ScalarType):
            out.append({"int": 3, "float": 0.5, "bool": True}[t.kind])
        else:
            out.append(_random_array(rng, t.dtype, tuple(2 if d is None else d for d in t.shape)))
    return out


def _random_array(rng: np.random.Generator, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
    if dtype is DType.bool:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.is_floating_point:
        array = rng.standard_normal(shape).astype(dtype.np)
        special = rng.random(shape) < 0.15
        with np.errstate(over="ignore"):  # float16: 1e30 and 3.4e38 become infinities
            picks = rng.choice(np.array(SPECIAL_FLOATS, dtype=dtype.np), size=shape)
        return np.where(special, picks, array).astype(dtype.np)
    return rng.integers(-4, 5, shape).astype(dtype.np)


class _Builder:
    ops: list | None = None  # the ops to draw from (None: GENERATED, every non-structure op)

    def __init__(self, draw):
        self.draw = draw
        self.constants: dict[str, np.ndarray] = {}
        self.seed = 0

    def graph(self, max_ops: int) -> Graph:
        draw = self.draw
        types = draw(st.lists(tensor_types(), min_size=1, max_size=3))
        types += [ScalarType(k) for k in draw(st.lists(st.sampled_from(["int", "float", "bool"]),
                                                       max_size=1))]
        names = [draw(st.sampled_from(VALUE_HINTS)) for _ in types]
        body = Block.create(types, names)
        values = [v for v in body.args if isinstance(v.type, TensorType)]
        self.chain(body, values, draw(st.integers(1, max_ops)), depth=0)
        outs = [values[-1], *draw(st.lists(st.sampled_from(values), max_size=2))]
        body.append(Operation.create(Op.RETURN, outs, {}, []))
        return Graph(draw(st.sampled_from(GRAPH_NAMES)), body, self.constants)

    def chain(self, block: Block, values: list[Value], n: int, depth: int) -> None:
        for _ in range(n):
            if depth < 2 and self.draw(st.integers(0, 5)) == 0:
                self.fused(block, values, depth)
            else:
                self.step(block, values)

    def fused(self, block: Block, values: list[Value], depth: int) -> None:
        operands = self.draw(st.lists(st.sampled_from(values), min_size=1, max_size=2))
        inner = Block.create([v.type for v in operands],
                             [self.draw(st.sampled_from(VALUE_HINTS)) for _ in operands])
        inner_values = list(inner.args)
        self.chain(inner, inner_values, self.draw(st.integers(1, 3)), depth + 1)
        yielded = [inner_values[-1], *self.draw(st.lists(st.sampled_from(inner_values),
                                                         max_size=1))]
        inner.append(Operation.create(Op.YIELD, yielded, {}, []))
        self.add(block, values, Op.FUSED, operands, {}, [v.type for v in yielded], [inner])

    def step(self, block: Block, values: list[Value]) -> None:
        op = self.draw(st.sampled_from(self.ops or GENERATED))
        x = self.draw(st.sampled_from(values))
        operands, attrs = RECIPES.get(op, _unary)(self, block, values, x)
        try:
            attrs = complete_attrs(op, _only(op, attrs))
            types = infer_types(op, [v.type for v in operands], attrs)
        except CAUGHT:
            return
        self.add(block, values, op, operands, attrs, types)

    def add(self, block, values, op, operands, attrs, types, blocks=()) -> Operation:
        loc = None
        if self.draw(st.booleans()):
            loc = Loc(self.draw(st.sampled_from(FILES)), self.draw(st.integers(0, 999)),
                      self.draw(st.integers(0, 99)))
        operation = block.append(Operation.create(op, operands, attrs, types, blocks, loc))
        for value in operation.results:
            value.name = self.draw(st.sampled_from(VALUE_HINTS))
        values.extend(operation.results)
        return operation

    # --- operands -------------------------------------------------------------------------------
    def constant(self, block: Block, dtype: DType, shape, high: int | None = None) -> Value:
        """A fresh constant op: inline when small, by @name (data in the graph) otherwise."""
        shape = tuple(1 if d is None else d for d in shape)
        self.seed += 1
        rng = np.random.default_rng(self.draw(st.integers(0, 2**16)) + 1000 * self.seed)
        array = _random_array(rng, dtype, shape)
        if high is not None:
            array = rng.integers(0, max(high, 1), shape).astype(dtype.np)
        if array.size > 16 or self.draw(st.integers(0, 5)) == 0:
            name = self.draw(st.sampled_from(CONST_NAMES))
            name = f"{name}{len(self.constants)}" if name in self.constants else name
            self.constants[name] = array
            attr = ConstRef(name)
        else:
            attr = Literal(array)
        op = Operation.create(Op.CONSTANT, [], {"value": attr}, [TensorType(dtype, shape)])
        return block.append(op).result

    def partner(self, block: Block, values: list[Value], x: Value, dtype=None) -> Value:
        """A second operand for `x`: an existing value of its type, or a constant of its dtype
        whose shape broadcasts against x's."""
        dtype = dtype or x.type.dtype
        same = [v for v in values if v.type == TensorType(dtype, x.type.shape)]
        if same and self.draw(st.booleans()):
            return self.draw(st.sampled_from(same))
        cut = self.draw(st.integers(0, x.type.ndim))
        return self.constant(block, dtype, x.type.shape[cut:])

    def dim(self, x: Value) -> int:
        return self.draw(st.integers(0, max(x.type.ndim - 1, 0)))

    def pair(self, lo: int, hi: int) -> tuple[int, int]:
        return (self.draw(st.integers(lo, hi)), self.draw(st.integers(lo, hi)))


# --- recipes: (builder, block, values, first operand) -> (operands, attrs) ----------------------
def _unary(g, block, values, x):
    return [x], {}


def _binary(g, block, values, x):
    return [x, g.partner(block, values, x)], {}


def _where(g, block, values, x):
    return [g.partner(block, values, x, DType.bool), x, g.partner(block, values, x)], {}


def _creation(g, block, values, x):
    dtype = g.draw(st.sampled_from(list(DType)))
    shape = tuple(g.draw(st.lists(st.integers(0, 3), max_size=3)))
    return [], {
        "shape": shape, "dtype": dtype, "value": g.draw(st.sampled_from([0, 2, 1.5, -0.0, True])),
        "start": g.draw(st.sampled_from([0, 1.0, -2.5])), "end": g.draw(st.sampled_from([3, 4.5])),
        "step": g.draw(st.sampled_from([1, 0.5, 2])), "steps": g.draw(st.integers(0, 4)),
        "n": g.draw(st.integers(0, 3)), "m": g.draw(st.integers(0, 3)), "low": -3, "high": 4,
    }


def _only(op, attrs: dict) -> dict:
    """`attrs` restricted to the ones `op` takes (recipes draw a superset)."""
    names = {a.name for a in OPS[op].attrs}
    return {k: v for k, v in attrs.items() if k in names}


def _reduce(g, block, values, x):
    ndim = x.type.ndim  # a 0-d tensor reduces over dims (), as the front end gives them
    dims = sorted(g.draw(st.sets(st.integers(0, ndim - 1)))) if ndim else []
    return [x], {"dims": tuple(dims), "keepdim": g.draw(st.booleans()),
                 "dim": g.draw(st.one_of(st.none(), st.just(g.dim(x))))}


def _with_dim(g, block, values, x):
    return [x], {"dim": g.dim(x)}


def _matmul(g, block, values, x):
    inner = x.type.shape[-1] if x.type.ndim else 1
    shape = g.draw(st.sampled_from([(inner,), (inner, 2), (3, inner, 1)]))
    return [x, g.constant(block, x.type.dtype, shape)], {}


def _linear(g, block, values, x):
    inner = x.type.shape[-1] if x.type.ndim else 1
    operands = [x, g.constant(block, x.type.dtype, (2, inner))]
    if g.draw(st.booleans()):
        operands.append(g.constant(block, x.type.dtype, (2,)))
    return operands, {}


def _conv2d(g, block, values, x):
    channels = x.type.shape[-3] if x.type.ndim >= 3 else 1
    kernel = g.pair(1, 2)
    weight = g.constant(block, x.type.dtype, (2, channels or 1, *kernel))
    attrs = {"stride": g.pair(1, 2), "padding": g.pair(0, 1), "dilation": g.pair(1, 2),
             "groups": 1}
    return [x, weight], attrs


def _pool(g, block, values, x):
    kernel = g.pair(1, 2)
    return [x], {"kernel_size": kernel, "stride": g.pair(1, 2),
                 "padding": (g.draw(st.integers(0, kernel[0] // 2)), 0),
                 "dilation": g.pair(1, 2), "ceil_mode": g.draw(st.booleans()),
                 "count_include_pad": g.draw(st.booleans()),
                 "divisor_override": g.draw(st.sampled_from([None, 1, 3]))}


def _layer_norm(g, block, values, x):
    n = g.draw(st.integers(0, x.type.ndim))
    norm = x.type.shape[x.type.ndim - n:] if n else ()
    extra = [g.constant(block, x.type.dtype, norm) for _ in range(g.draw(st.integers(0, 2)))]
    return [x, *extra], {"normalized_ndim": n, "eps": g.draw(st.sampled_from([1e-05, 0.1]))}


def _reshape(g, block, values, x):
    shape = x.type.shape
    numel = math.prod(shape) if None not in shape else 1
    options = [(numel,), tuple(reversed(shape)), (1, *shape), (*shape, 1)]
    return [x], {"shape": g.draw(st.sampled_from(options))}


def _permute(g, block, values, x):
    return [x], {"dims": tuple(g.draw(st.permutations(range(x.type.ndim))))}


def _expand(g, block, values, x):
    grown = tuple(2 if d == 1 else d for d in x.type.shape)
    return [x], {"shape": (g.draw(st.integers(1, 2)), *grown)}


def _slice(g, block, values, x):
    starts, stops, steps = [], [], []
    for d in x.type.shape:
        d = 1 if d is None else d
        start = g.draw(st.integers(0, d))
        starts.append(start)
        stops.append(g.draw(st.integers(start, d)))
        steps.append(g.draw(st.integers(1, 2)))
    return [x], {"starts": tuple(starts), "stops": tuple(stops), "steps": tuple(steps)}


def _cat(g, block, values, x):
    same = [v for v in values if v.type == x.type]
    more = g.draw(st.lists(st.sampled_from(same), max_size=2))
    return [x, *more], {"dim": g.dim(x)}


def _pad(g, block, values, x):
    mode = g.draw(st.sampled_from(["constant", "constant", "reflect", "replicate", "circular"]))
    lo = -1 if mode == "constant" else 0
    pads = g.draw(st.lists(st.integers(lo, 2), max_size=2 * x.type.ndim).filter(
        lambda p: len(p) % 2 == 0))
    return [x], {"pads": tuple(pads), "mode": mode, "value": g.draw(st.sampled_from([0, -1.5]))}


def _tri(g, block, values, x):
    return [x], {"diagonal": g.draw(st.integers(-1, 1))}


def _index_spec(g, block, x):
    """A spec covering x's dims, and the index tensors its ("tensor",) entries consume."""
    spec, tensors = [], []
    for d in x.type.shape:
        d = 1 if d is None else d
        kind = g.draw(st.sampled_from(["slice", "slice", "int", "tensor", "mask", "none"]))
        if kind == "none":
            spec.append(("none",))
        if kind in ("slice", "none") or d == 0:
            start = g.draw(st.integers(0, d))
            spec.append(("slice", start, g.draw(st.integers(start, d)), g.draw(st.integers(1, 2))))
        elif kind == "int":
            spec.append(("int", g.draw(st.integers(0, d - 1))))
        else:
            shape = (d,) if kind == "mask" else (g.draw(st.integers(1, 2)),)
            dtype = DType.bool if kind == "mask" else g.draw(st.sampled_from(INT_DTYPES))
            tensors.append(g.constant(block, dtype, shape, high=None if kind == "mask" else d))
            spec.append(("tensor",))
    return tuple(spec), tensors


def _index(g, block, values, x):
    spec, tensors = _index_spec(g, block, x)
    return [x, *tensors], {"spec": spec}


def _index_put(g, block, values, x):
    spec, tensors = _index_spec(g, block, x)
    return [x, g.constant(block, x.type.dtype, ()), *tensors], {"spec": spec}


def _gather(g, block, values, x):
    dim = g.dim(x)
    shape = tuple(g.draw(st.integers(min(1, d or 0), d or 0)) for d in x.type.shape)
    high = x.type.shape[dim] if x.type.ndim else 1
    return [x, g.constant(block, DType.int64, shape, high=high)], {"dim": dim}


def _constant(g, block, values, x):
    return [g.constant(block, x.type.dtype, x.type.shape)], {}


def _cast(g, block, values, x):
    return [x], {"dtype": g.draw(st.sampled_from(list(DType)))}


def _attrs_only(**strategies):
    def recipe(g, block, values, x):
        return [x], {k: g.draw(s) for k, s in strategies.items()}

    return recipe


RECIPES = {
    **{op: _binary for op, d in OPS.items() if d.kind is Kind.ELEMENTWISE and d.arity == (2, 2)},
    Op.WHERE: _where,
    Op.CAST: _cast,
    Op.GELU: _attrs_only(approximate=st.sampled_from(["none", "tanh"])),
    Op.ROUND: _attrs_only(decimals=st.sampled_from([0, 0, 1])),
    Op.CUMSUM: _with_dim, Op.SOFTMAX: _with_dim, Op.LOG_SOFTMAX: _with_dim,
    Op.MATMUL: _matmul, Op.LINEAR: _linear, Op.CONV2D: _conv2d, Op.LAYER_NORM: _layer_norm,
    Op.MAX_POOL2D: _pool, Op.AVG_POOL2D: _pool,
    Op.RESHAPE: _reshape, Op.PERMUTE: _permute, Op.EXPAND: _expand, Op.SLICE: _slice,
    Op.CAT: _cat, Op.PAD: _pad, Op.TRIL: _tri, Op.TRIU: _tri,
    Op.INDEX: _index, Op.INDEX_PUT: _index_put, Op.GATHER: _gather,
    Op.CONSTANT: _constant,
}
RECIPES.update({op: _reduce for op, d in OPS.items() if d.kind is Kind.REDUCTION})
RECIPES.update({op: _creation for op, d in OPS.items() if d.kind is Kind.CREATION})
GENERATED = sorted((op for op in OPS if op not in STRUCTURE), key=lambda op: op.value)

