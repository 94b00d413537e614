"""The fusion policy on its own: `can_fuse` on single producer-consumer edges of parsed graphs,
`merge_domains` on group domains `(S, D)`, and `row_dims` on shapes. Each expected answer follows
from the policy in fusion_policy.py's docstring: a group iterates over one full shape S, reads
row values (S with the reduced trailing dims D kept as 1s or dropped) and never recomputes."""

from __future__ import annotations

import pytest

from tracejit.ir.graph import Graph, Operation
from tracejit.ir.parser import parse
from tracejit.ir.verifier import verify
from tracejit.passes.fusion_policy import can_fuse, fusible, merge_domains, row_dims


def ops_of(args: str, body: str) -> dict[str, Operation]:
    """The operations of a verified graph `@g(args)` by their result's name (`%e = ...` -> 'e');
    `body` lists the operations before `return(%out)`."""
    lines = "".join(f"  {line.strip()}\n" for line in body.strip().splitlines())
    text = f"graph @g({args}) -> ({out_type(body)}) {{\n{lines}  return(%out)\n}}\n"
    graph: Graph = verify(parse(text))
    return {o.results[0].name: o for o in graph.walk() if o.results and o.results[0].name}


def out_type(body: str) -> str:
    line = next(ln for ln in body.splitlines() if ln.strip().startswith("%out ="))
    return line.rsplit(":", 1)[1].strip()


X48 = "%x: float32[4,8]"


# --- edges that fuse ------------------------------------------------------------------------------
def test_same_shape_elementwise_fuses():
    ops = ops_of(X48, """
        %e = exp(%x) : float32[4,8]
        %out = neg(%e) : float32[4,8]
    """)
    assert can_fuse(ops["e"], ops["out"])


def test_elementwise_with_a_broadcast_input_fuses_with_its_same_shape_producer():
    # the consumer broadcasts %v, but the edge from %e is one element to one element
    ops = ops_of(f"{X48}, %v: float32[8]", """
        %e = exp(%x) : float32[4,8]
        %out = mul(%e, %v) : float32[4,8]
    """)
    assert can_fuse(ops["e"], ops["out"])


def test_keepdim_row_value_broadcast_back_fuses():
    # softmax's pattern: a row max (one value per row, kept as [4,1]) subtracted from each row
    ops = ops_of(X48, """
        %m = amax(%x) {dims = [1], keepdim = true} : float32[4,1]
        %out = sub(%x, %m) : float32[4,8]
    """)
    assert can_fuse(ops["m"], ops["out"])


def test_elementwise_row_value_broadcast_back_fuses():
    # layer norm's pattern: rsqrt(var + eps) is computed once per row, then scales the row
    ops = ops_of(X48, """
        %v = mean(%x) {dims = [1], keepdim = true} : float32[4,1]
        %r = rsqrt(%v) : float32[4,1]
        %out = mul(%x, %r) : float32[4,8]
    """)
    assert can_fuse(ops["v"], ops["r"])
    assert can_fuse(ops["r"], ops["out"])


def test_row_value_over_several_trailing_dims_fuses():
    ops = ops_of("%x: float32[2,3,4]", """
        %s = sum(%x) {dims = [1, 2], keepdim = true} : float32[2,1,1]
        %out = div(%x, %s) : float32[2,3,4]
    """)
    assert can_fuse(ops["s"], ops["out"])


def test_reduction_prologue_fuses():
    ops = ops_of(f"{X48}, %y: float32[4,8]", """
        %p = mul(%x, %y) : float32[4,8]
        %out = sum(%p) {dims = [1], keepdim = false} : float32[4]
    """)
    assert can_fuse(ops["p"], ops["out"])


def test_reduction_epilogue_on_the_rows_fuses():
    ops = ops_of(X48, """
        %s = sum(%x) {dims = [1], keepdim = false} : float32[4]
        %out = mul(%s, %s) : float32[4]
    """)
    assert can_fuse(ops["s"], ops["out"])


# --- edges that do not fuse -----------------------------------------------------------------------
@pytest.mark.parametrize("small", ["float32[8]", "float32[1,8]"])
def test_non_row_value_broadcast_into_a_bigger_one_does_not_fuse(small):
    # %e[j] is read by every row i: fusing would compute exp(%v) once per (i, j)
    ops = ops_of(f"{X48}, %v: {small}", f"""
        %e = exp(%v) : {small}
        %out = add(%x, %e) : float32[4,8]
    """)
    assert not can_fuse(ops["e"], ops["out"])


def test_reduction_without_keepdim_broadcast_does_not_fuse():
    # %s[i] is the sum of row i, but broadcasting [8] against [8,8] reads it as %s[j]: column j
    ops = ops_of("%x: float32[8,8]", """
        %s = sum(%x) {dims = [1], keepdim = false} : float32[8]
        %out = sub(%x, %s) : float32[8,8]
    """)
    assert not can_fuse(ops["s"], ops["out"])


def test_leading_dim_reduction_broadcast_does_not_fuse():
    # a column sum [1,8] is not a row value of [4,8]
    ops = ops_of(X48, """
        %s = sum(%x) {dims = [0], keepdim = true} : float32[1,8]
        %out = sub(%x, %s) : float32[4,8]
    """)
    assert not can_fuse(ops["s"], ops["out"])


def test_reduction_feeding_reduction_does_not_fuse():
    ops = ops_of(X48, """
        %s = sum(%x) {dims = [1], keepdim = true} : float32[4,1]
        %out = amax(%s) {dims = [0], keepdim = false} : float32[1]
    """)
    assert not can_fuse(ops["s"], ops["out"])


NON_FUSIBLE_PRODUCERS = {
    "matmul": ("%w: float32[8,8]", "%n = matmul(%x, %w) : float32[4,8]"),
    "reshape": ("%w: float32[32]", "%n = reshape(%w) {shape = [4, 8]} : float32[4,8]"),
    "constant": ("%w: float32[1]",
                 "%n = constant() {value = dense<float32[4,8]: 1.5>} : float32[4,8]"),
    "rand": ("%w: float32[1]", "%n = rand() {shape = [4, 8], dtype = float32} : float32[4,8]"),
    "randn": ("%w: float32[1]", "%n = randn() {shape = [4, 8], dtype = float32} : float32[4,8]"),
    "conv2d": ("%w: float32[4,1,1,1]",
               "%n = conv2d(%img, %w) {stride = [1, 1], padding = [0, 0], dilation = [1, 1], "
               "groups = 1} : float32[1,4,4,8]"),
}


@pytest.mark.parametrize("name", sorted(NON_FUSIBLE_PRODUCERS))
def test_non_fusible_producer_does_not_fuse(name):
    extra, producer = NON_FUSIBLE_PRODUCERS[name]
    shape = "float32[1,4,4,8]" if name == "conv2d" else "float32[4,8]"
    ops = ops_of(f"{X48}, %img: float32[1,1,4,8], {extra}", f"""
        {producer}
        %out = relu(%n) : {shape}
    """)
    assert not fusible(ops["n"])
    assert not can_fuse(ops["n"], ops["out"])


NON_FUSIBLE_CONSUMERS = {
    "matmul": ("%w: float32[8,8]", "%out = matmul(%e, %w) : float32[4,8]"),
    "reshape": ("%w: float32[1]", "%out = reshape(%e) {shape = [32]} : float32[32]"),
    "conv2d": ("%w: float32[2,4,1,1]",
               "%out = conv2d(%e, %w) {stride = [1, 1], padding = [0, 0], dilation = [1, 1], "
               "groups = 1} : float32[1,2,4,8]"),
    "softmax": ("%w: float32[1]", "%out = softmax(%e) {dim = 1} : float32[4,8]"),
    "cumsum": ("%w: float32[1]", "%out = cumsum(%e) {dim = 1} : float32[4,8]"),
}


@pytest.mark.parametrize("name", sorted(NON_FUSIBLE_CONSUMERS))
def test_non_fusible_consumer_does_not_fuse(name):
    extra, consumer = NON_FUSIBLE_CONSUMERS[name]
    shape = "float32[1,4,4,8]" if name == "conv2d" else "float32[4,8]"
    ops = ops_of(f"%x: {shape}, {extra}", f"""
        %e = exp(%x) : {shape}
        {consumer}
    """)
    assert fusible(ops["e"])
    assert not fusible(ops["out"])
    assert not can_fuse(ops["e"], ops["out"])


def test_values_in_different_blocks_do_not_fuse():
    # same shape, both elementwise: only the block boundary stands between them
    ops = ops_of(X48, """
        %f = fused(%x) : float32[4,8] {
        ^(%a: float32[4,8]):
          %inner = exp(%a) : float32[4,8]
          yield(%inner)
        }
        %out = neg(%f) : float32[4,8]
    """)
    assert fusible(ops["inner"]) and fusible(ops["out"])
    assert not can_fuse(ops["inner"], ops["out"])


def test_dynamic_dims_do_not_fuse():
    ops = ops_of("%x: float32[?,8]", """
        %e = exp(%x) : float32[?,8]
        %out = neg(%e) : float32[?,8]
    """)
    assert not can_fuse(ops["e"], ops["out"])


def test_dynamic_dims_do_not_fuse_into_a_reduction():
    ops = ops_of("%x: float32[4,?]", """
        %e = exp(%x) : float32[4,?]
        %out = sum(%e) {dims = [1], keepdim = false} : float32[4]
    """)
    assert not can_fuse(ops["e"], ops["out"])


# --- merge_domains --------------------------------------------------------------------------------
S = (4, 8)


@pytest.mark.parametrize("a, b, merged", [
    ((S, None), (S, None), (S, None)),  # two elementwise groups on one shape
    ((S, (1,)), (S, None), (S, (1,))),  # equal shapes, one D undetermined: the other's D
    ((S, None), (S, (1,)), (S, (1,))),
    ((S, (1,)), (S, (1,)), (S, (1,))),  # the same reduction dims
    ((S, (1,)), ((4, 1), None), (S, (1,))),  # a keepdim row value joins its reduction
    (((4, 1), None), (S, (1,)), (S, (1,))),
    ((S, (1,)), ((4,), None), (S, (1,))),  # a dropped-dim row value (an epilogue)
    ((S, None), ((4, 1), None), (S, (1,))),  # a row value fixes D for a group without one
    (((2, 3, 4), None), ((2, 1, 1), None), ((2, 3, 4), (1, 2))),
])
def test_merge_domains_that_exist(a, b, merged):
    assert merge_domains(a, b) == merged


@pytest.mark.parametrize("a, b", [
    ((S, (1,)), (S, (0,))),  # conflicting reduction dims on one shape
    ((S, (1,)), (S, (0, 1))),
    ((S, (1,)), ((4, 1), (0,))),  # the small group reduces too: a reduction of a reduction
    (((8, 8), (0,)), ((8,), None)),  # [8] looks like a row of [8,8], but D reduces dim 0
    ((S, None), ((1, 8), None)),  # a leading-dim value is no row
    ((S, None), ((8,), None)),
    ((S, None), ((3,), None)),  # unrelated shapes
    ((S, None), ((8, 4), None)),
])
def test_merge_domains_that_do_not_exist(a, b):
    assert merge_domains(a, b) is None
    assert merge_domains(b, a) is None


# --- row_dims -------------------------------------------------------------------------------------
@pytest.mark.parametrize("small, dims", [
    ((2, 3, 1), (2,)),  # the last dim kept as 1
    ((2, 3), (2,)),  # the last dim dropped
    ((2, 1, 1), (1, 2)),
    ((2,), (1, 2)),
    ((1, 1, 1), (0, 1, 2)),  # everything reduced
    ((), (0, 1, 2)),
])
def test_row_dims_of_trailing_dims(small, dims):
    assert row_dims((2, 3, 4), small) == dims


@pytest.mark.parametrize("small", [(1, 3, 4), (3, 4), (4,), (2, 1, 4), (2, 3, 4), (5,)])
def test_row_dims_is_none_for_leading_or_inner_dims(small):
    assert row_dims((2, 3, 4), small) is None


def test_row_dims_picks_the_fewest_trailing_dims():
    # with a 1 in the full shape, both (1, 2) and (2,) describe [2,1,1]; the fewest dims win
    assert row_dims((2, 3, 1), (2, 1, 1)) == (1, 2)
    assert row_dims((2, 1, 1), (2, 1, 1)) == (2,)
