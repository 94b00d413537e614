"""Script mode's structured control flow: recording a tensor `if` into the two blocks of an
`if` op and merging what the branches leave behind, and tensor-bounded loops into `for` and
`while` ops whose carried values are what the body changes."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tracejit import functions as fn_ops
from tracejit import pytree
from tracejit.ir.graph import Block, Operation
from tracejit.ir.ops import Op
from tracejit.ir.types import DType, TensorType
from tracejit.script_source import (
    BRK,
    CONT,
    MAX_UNROLL,
    MISSING,
    RET,
    RETVAL,
    ScriptError,
    Undefined,
    _Break,
    _Continue,
    _Escape,
    _Return,
    describe,
    show,
    trace_message,
)
from tracejit.tensor import Tensor
from tracejit.tracer import TraceError

if TYPE_CHECKING:
    from tracejit.scripting import Frame


class Flow:
    """The control-flow half of the Scripter (see scripting.py)."""

    # --- structured if ------------------------------------------------------------------------
    def ir_type(self, t: Tensor) -> TensorType:
        """`t`'s type in the graph: a data-dependent dim is `?` there, a size in its data."""
        value = getattr(t, "_value", None)
        return value.type if value is not None else t._type

    def snapshot(self) -> dict[int, tuple[Tensor, Any]]:
        return {id(t): (t, t._value) for t in self.mode.live()
                if getattr(t, "_value", None) is not None}

    def restore(self, snap: dict) -> None:
        for t, value in snap.values():
            t._value = value

    def abandon(self, snap: dict) -> None:
        """Undo an attempt whose ops are dropped: tensors keep their values from before it,
        and the ones it made (views of live tensors, still held by its traceback) are forgotten,
        so a later write does not derive them again from values no longer in the graph."""
        self.restore(snap)
        for t in self.mode.live():
            if id(t) not in snap:
                # a tensor bound in the attempt (a module's weight met first there, as a
                # constant of the dropped ops) is unbound: a later use makes it again
                with contextlib.suppress(AttributeError):
                    del t._value
                self.mode.forget(id(t))

    def run_block(self, block: Block, fn: Callable, f: Frame) -> None:
        """Run `fn` recording into `block`; a static break/continue/return there sets its flag."""
        body, self.mode.body = self.mode.body, block
        self.dynamic_depth += 1
        try:
            fn()
        except _Break:
            f.env[BRK] = True
        except _Continue:
            f.env[CONT] = True
        except _Return as r:
            f.env[RET] = True
            f.env[RETVAL] = r.value
        finally:
            self.mode.body = body
            self.dynamic_depth -= 1

    def branch(self, cond: Tensor, then: Callable, other: Callable, f: Frame, node) -> None:
        """Record `if cond {then} {other}`; afterwards `f.env` and the tensors written in place
        hold the merged values (the if's results where the branches differ)."""
        cond_value = self.mode.value_of(cond)
        env0, live0 = dict(f.env), self.snapshot()
        ends = []
        for fn in (then, other):
            f.env = dict(env0)
            self.restore(live0)
            block = Block()
            self.run_block(block, fn, f)
            ends.append((block, f.env, self.snapshot()))
        try:
            self.merge(cond_value, ends, env0, live0, f, node)
        except _Escape:
            raise
        except TraceError as e:  # a merged value refused (ScriptMode.value_of)
            raise f.source.error(node, trace_message(e)) from None

    def merge(self, cond_value, ends, env0, live0, f: Frame, node) -> None:
        """The if op of `branch`, from what each side ended with."""
        (tb, tenv, tlive), (eb, eenv, elive) = ends
        pairs: list[tuple] = []
        merged: dict[str, Any] = {}
        where = f"line {f.source.loc(node).line}"
        for name in dict.fromkeys([*tenv, *eenv]):
            a, b = tenv.get(name, MISSING), eenv.get(name, MISSING)
            if a is b:
                merged[name] = a
            elif a is MISSING or b is MISSING:
                if name == RETVAL:
                    merged[name] = self.unify(name, *self.fill(a, b, tb, eb), tb, eb, pairs, f,
                                              node)
                else:
                    merged[name] = Undefined(name, f"is assigned in only one branch of the if "
                                                   f"at {where}")
            else:
                merged[name] = self.unify(name, a, b, tb, eb, pairs, f, node)
        written, same = [], []
        for key, (t, before) in live0.items():
            va, vb = tlive.get(key, (t, None))[1], elive.get(key, (t, None))[1]
            if va is not vb and va is not None and vb is not None:
                written.append(t)
                pairs.append((va, vb, va.type, t))
            elif va is vb and va is not None and va is not before:
                same.append((t, va))  # both branches wrote one outer value (y.copy_(x))
        self.restore(live0)
        for t, value in same:
            self.mode.bind(t, value)
        tb.append(Operation.create(Op.YIELD, [p[0] for p in pairs], {}, []))
        eb.append(Operation.create(Op.YIELD, [p[1] for p in pairs], {}, []))
        op = Operation.create(Op.IF, [cond_value], {}, [p[2] for p in pairs], [tb, eb],
                              loc=f.source.loc(node))
        self.mode.body.append(op)
        arrays = self.mode.computed(op) or [None] * len(pairs)
        results = iter(self.mode.dynamic_tensor(v, p[3], a)
                       for v, p, a in zip(op.results, pairs, arrays))
        f.env = {name: _build(value, results) for name, value in merged.items()}
        line = f.source.loc(node).line
        for name, value in merged.items():
            if isinstance(value, _Slot) and name != RETVAL:
                for side in (tenv.get(name), eenv.get(name)):
                    self.mode.maybe_view(side, f.env[name], name, f"the if at line {line}")
        for t in written:
            self.take(t, next(results))

    def take(self, t: Tensor, result: Tensor) -> None:
        """Tensor `t`, written in place inside an if or loop, holds the op's `result` after
        it: its value, and (capturing with values) its data."""
        if not self.mode.abstract and result._data.shape == t._data.shape and \
                t._data.flags.writeable:
            np.copyto(t._data, result._data)
        self.mode.bind(t, result._value)

    def fill(self, a, b, tb: Block, eb: Block) -> tuple[Any, Any]:
        """A placeholder (zeros of the same types) for the side of `return` that has none."""
        present, block = (b, tb) if a is MISSING else (a, eb)
        leaves, structure, _ = pytree.flatten(present)
        body, self.mode.body = self.mode.body, block
        try:
            zeros = [fn_ops_zeros(t, self.ir_type(t)) for t in leaves]
        finally:
            self.mode.body = body
        filler = pytree.unflatten(structure, zeros)
        return (filler, b) if a is MISSING else (a, filler)

    def unify(self, name, a, b, tb, eb, pairs, f, node) -> Any:
        """What variable `name` holds after the branches: `a` in one, `b` in the other. Equal
        Python values stay; tensors (and numbers that differ) become results of the if."""
        if _same_static(a, b):
            return a
        if isinstance(a, (tuple, list)) and type(a) is type(b) and len(a) == len(b):
            return _Node(type(a), [self.unify(name, x, y, tb, eb, pairs, f, node)
                                   for x, y in zip(a, b)])
        ta, tb_ = self.as_tensor(a, b), self.as_tensor(b, a)
        if ta is None or tb_ is None:
            raise f.source.error(node, f"variable '{show(name)}' is {describe(a)} after one "
                                       f"branch and {describe(b)} after the other",
                                 "give it the same kind of value on both branches")
        want = merged_type(self.ir_type(ta), self.ir_type(tb_))
        if want is None:
            raise f.source.error(node, f"variable '{show(name)}' is {self.ir_type(ta)} after "
                                       f"the then branch and {self.ir_type(tb_)} after the "
                                       "else branch",
                                 "both branches must give it the same dtype and number of dims "
                                 "(sizes may differ)")
        ta, tb_ = self.widen(ta, want, tb), self.widen(tb_, want, eb)
        va = self.mode.value_of(ta)
        pairs.append((va, self.mode.value_of(tb_), va.type, ta))
        return _Slot()

    def widen(self, t: Tensor, want: TensorType, block: Block) -> Tensor:
        """`t` typed `want`: each dim `want` leaves open (`?`) and `t` has static is selected
        with an all-true mask, recorded at the end of `block` (a branch or loop body)."""
        have = self.ir_type(t)
        if have == want:
            return t
        from tracejit import creation
        body, self.mode.body = self.mode.body, block
        try:
            for d, (h, w) in enumerate(zip(have.shape, want.shape)):
                if w is None and h is not None:
                    t = t[(slice(None),) * d + (creation.ones(h, dtype=DType.bool),)]
        finally:
            self.mode.body = body
        return t

    def as_tensor(self, v, other) -> Tensor | None:
        """`v` as a tensor, where it is one or a Python number (typed like `other`)."""
        if isinstance(v, Tensor):
            return v
        if isinstance(v, (bool, int, float)) and not isinstance(v, np.ndarray):
            if isinstance(other, Tensor):
                if other.ndim:
                    return None
                return self.constant(v, other.dtype)
            if isinstance(other, (bool, int, float)):
                return self.constant(v, _number_dtype(v, other))
        return None

    # --- loops --------------------------------------------------------------------------------
    def unrolled(self, node: ast.For, items: list, f: Frame, k: int = 0) -> None:
        """A for over a Python sequence (or a tensor's first dim): one copy per item."""
        if self.compile_mode and k == 0 and isinstance(self.unrolled_source, (list, dict)):
            for item in items:
                self.check_foreign(self.unrolled_source, item, f, node.iter)
        while k < len(items):
            self.assign(node.target, items[k], f, node)
            k += 1
            if self.unrolled_iteration(node.body, f):
                return
            f.env[CONT] = False
            stop = [n for n in (BRK, RET) if isinstance(f.env.get(n), Tensor)]
            if stop and k < len(items):
                def rest(k=k):
                    self.unrolled(node, items, f, k)
                self.guard(stop, rest, f, node)
                break
        if isinstance(f.env.get(BRK), Tensor) or f.env.get(BRK) is True:
            f.env[BRK] = False

    def unrolled_iteration(self, stmts, f: Frame) -> bool:
        """One iteration of a loop run at scripting time; whether it broke out."""
        try:
            self.body(stmts, f)
        except _Break:
            return True
        except _Continue:
            pass
        return False

    def for_range(self, node: ast.For, bounds: list, f: Frame) -> None:
        if not any(isinstance(b, Tensor) for b in bounds):
            if any(not isinstance(b, int) for b in bounds):
                raise f.source.error(node.iter, "range() takes integers")
            if bounds[2] == 0:
                raise f.source.error(node.iter, "range() arg 3 must not be zero")
            state = (dict(f.env), self.snapshot(), len(self.mode.body.ops))
            try:
                return self.structured_loop(node, f, bounds,
                                            unroll=len(range(*bounds)) <= MAX_UNROLL)
            except ScriptError as e:  # the body needs the index as a Python number: unroll
                if not e.escape or len(range(*bounds)) > MAX_UNROLL:
                    raise
                f.env = state[0]
                self.abandon(state[1])
                self.truncate(state[2])
                return self.unrolled(node, list(range(*bounds)), f)
        for b in bounds:
            if isinstance(b, Tensor) and (b.dtype.is_floating_point or b.ndim):
                raise f.source.error(node.iter, f"range() takes integers, got a {b._type} "
                                                "tensor")
        return self.structured_loop(node, f, bounds)

    def truncate(self, start: int) -> None:
        """Drop the ops an abandoned attempt recorded after `start`, except the constants it
        put at the top of the graph: tensors stay bound to those (pure, used again later)."""
        ops = self.mode.body.ops
        ops[start:] = [op for op in ops[start:]
                       if op.op is Op.CONSTANT and self.mode.body is self.mode.top]

    def structured_loop(self, node, f: Frame, bounds: list | None, unroll=False) -> None:
        """A `for` (bounds given) or `while` op. The carried values are what the body changes:
        build it, and again with more carried values until nothing new changes; a carried
        size that changes makes that dim `?` (unless `unroll`: a small static range, unrolled
        instead, keeps its sizes)."""
        exits = _has_exit(node.body)
        carried: dict[str, None] = {}
        written: dict[int, Tensor] = {}
        widened: dict[tuple, TensorType] = {}
        for _ in range(8):
            env0, live0 = dict(f.env), self.snapshot()
            body0 = len(self.mode.body.ops)
            try:
                new_names, new_written = self.build_loop(node, f, bounds, exits,
                                                         list(carried), list(written.values()),
                                                         widened)
            except _Widen as w:  # a carried size changes in the body: it is `?` in the loop
                if unroll or not self.widen_loops:
                    raise w.error from None
                f.env = env0
                self.abandon(live0)
                self.truncate(body0)
                widened[w.key] = w.type
                continue
            except _Escape:
                raise
            except TraceError as e:  # a carried value refused (ScriptMode.value_of)
                raise f.source.error(node, trace_message(e)) from None
            if not new_names and not new_written:
                return
            f.env = env0
            self.abandon(live0)
            self.truncate(body0)
            carried.update(dict.fromkeys(new_names))
            written.update(new_written)
        raise f.source.error(node, "the values this loop changes did not settle")

    def build_loop(self, node, f: Frame, bounds, exits: bool, names: list[str],
                   written: list[Tensor], widened: dict | None = None) -> tuple[list[str], dict]:
        """Build the loop op carrying `names` and `written` (a carried leaf in `widened` typed
        as given there); returns what else the body changed (names, tensors) — empty when the
        op is complete."""
        widened = widened or {}
        mode = self.mode
        env0 = dict(f.env)
        live0 = {key: value for key, (_, value) in self.snapshot().items()}
        # whether the body may not reach its end: a carried name may keep its first value
        may_skip = exits or bounds is None or any(isinstance(b, Tensor) for b in bounds) or \
            not len(range(*bounds))
        outer_flags = {n: env0.get(n) for n in (BRK, CONT)}
        inits: list[Tensor] = []
        keys: list[tuple] = []
        templates = []
        for name in names:
            value = env0.get(name, MISSING)
            if name == RETVAL and value is MISSING:
                value = self.loop_retval
            first = len(inits)
            template = self.split(value, inits)
            for j in range(first, len(inits)):
                keys.append((name, j - first))
                if keys[-1] in widened:
                    inits[j] = self.widen(inits[j], widened[keys[-1]], mode.body)
            if template is None:
                raise f.source.error(node, f"variable '{show(name)}' changes in this loop, so "
                                           f"it must be a tensor, a number or a tuple of them; "
                                           f"it is {describe(value)} before the loop")
            templates.append(template)
        n_named = len(inits)
        inits += written
        init_values = [self.mode.value_of(t) for t in inits]  # before the body rebinds them
        loc = f.source.loc(node)
        mode.loc = loc
        index_kind = bounds is not None and not exits
        if bounds is not None:
            bounds = [b if isinstance(b, Tensor) else self.constant(b, DType.int64)
                      for b in bounds]
            bounds = [b if b.dtype is DType.int64 else b.to(DType.int64) for b in bounds]
        arg_types = [self.ir_type(t) for t in inits]
        counter = None
        if index_kind:
            block = Block.create([TensorType(DType.int64, ()), *arg_types])
            args = block.args[1:]
        else:
            if bounds is not None:  # a for with break/return: a while with its own counter
                counter = bounds[0]
                arg_types = [counter._type, *arg_types]
            block = Block.create(arg_types)
            args = block.args[1:] if counter is not None else block.args
        body, mode.body = mode.body, block
        self.dynamic_depth += 1
        try:
            # capturing with values, the body computes its first iteration's (a mask's size)
            bound = [mode.dynamic_tensor(v, t, _first(mode, t)) for v, t in zip(args, inits)]
            starts = iter(bound)
            for name, template in zip(names, templates):
                f.env[name] = _build(template, starts)
                # on the first iteration the name still holds its first tensor, written through
                mode.maybe_view(env0.get(name), f.env[name], name, f"the loop at line "
                                f"{f.source.loc(node).line}")
            for t, v in zip(written, args[n_named:]):
                mode.bind(t, v)
            after = dict(f.env)
            live_start = {id(t): t._value for t in written}
            f.env[CONT] = False
            if BRK not in names:
                f.env[BRK] = False
            if index_kind:
                counter_tensor = mode.dynamic_tensor(block.args[0], None,
                                                     _first(mode, bounds[0]))
                # an int, as torch reads a 0-d int index: x[i] views x (tracer._is_view)
                counter_tensor._basic_index = True
                self.assign(node.target, counter_tensor, f, node)
                self.iteration(node.body, f, exits)
                again = None
            else:
                i = mode.dynamic_tensor(block.args[0], None, _first(mode, counter)) \
                    if counter is not None else None
                cond = self.loop_condition(node, f, bounds, i)

                def step():  # the condition held: no break or return yet
                    f.env[BRK] = False
                    if isinstance(f.env.get(RET), Tensor):
                        f.env[RET] = False
                    if i is not None:
                        self.assign(node.target, i, f, node)
                    self.iteration(node.body, f, exits)
                    if i is not None:
                        mode.loc = loc
                        f.env["$i"] = i + bounds[2]
                if i is not None:
                    f.env["$i"] = i
                self.branch(cond, step, lambda: None, f, node)
                again = cond
            f.env[CONT] = False
            # what changed: carried names must keep their types; new changes are reported
            changed, new_written = [], {}
            yields = []
            starts = iter(zip(keys, bound))
            for name, template in zip(names, templates):
                self.join(name, f.env.get(name, MISSING), template, starts, yields, f, node)
            for t in written:
                yields.append(mode.value_of(t))
            for name, value in f.env.items():
                if name in names or name in (CONT, "$i") or name == node_target(node):
                    continue
                before = after.get(name, MISSING)
                if value is before or _same_static(value, before):
                    continue
                if before is MISSING and name != RETVAL:
                    continue  # a loop-local variable: undefined after the loop
                if name == RETVAL:
                    self.loop_retval = _zeros_like(value)
                changed.append(name)
            for key, (t, value) in self.snapshot().items():
                if key in live_start or key not in live0:
                    continue
                if value is not live0[key]:
                    new_written[key] = t
            if changed or new_written:
                return changed, new_written
            if counter is not None:
                yields = [mode.value_of(f.env["$i"]), *yields]
            if again is not None:
                yields = [mode.value_of(again), *yields]
            block.append(Operation.create(Op.YIELD, yields, {}, []))
        finally:
            mode.body = body
            self.dynamic_depth -= 1
        if index_kind:
            operands = [mode.value_of(b) for b in bounds] + init_values
            op = Operation.create(Op.FOR, operands, {}, arg_types, [block], loc=loc)
        else:
            if counter is not None:
                init_values = [mode.value_of(counter), *init_values]
            op = Operation.create(Op.WHILE, init_values, {}, arg_types, [block], loc=loc)
        mode.body.append(op)
        likes = [counter, *inits] if counter is not None else inits
        arrays = mode.computed(op) or [None] * len(likes)
        results = [mode.dynamic_tensor(v, t, a) for v, t, a in zip(op.results, likes, arrays)]
        if counter is not None:
            results = results[1:]
        f.env = {k: v for k, v in env0.items()}
        for name in list(after):
            if name not in env0 and name not in names:
                f.env[name] = Undefined(name, f"is assigned only inside the loop at line "
                                              f"{loc.line}")
        ends = iter(results)
        for name, template in zip(names, templates):
            f.env[name] = _build(template, ends)
            if may_skip:
                mode.maybe_view(env0.get(name), f.env[name], name, f"the loop at line "
                                f"{loc.line}")
        for t, r in zip(written, results[n_named:]):
            self.take(t, r)
        for name, value in outer_flags.items():
            f.env[name] = value
        target = node_target(node)
        if target is not None:
            f.env[target] = Undefined(target, f"is the variable of the loop at line {loc.line}")
        return [], {}

    def iteration(self, stmts, f: Frame, exits: bool) -> None:
        try:
            self.body(stmts, f)
        except _Continue:
            pass
        except _Break:
            f.env[BRK] = True
        except _Return as r:
            f.env[RET] = True
            f.env[RETVAL] = r.value

    def loop_condition(self, node, f: Frame, bounds, i) -> Tensor:
        mode = self.mode
        if bounds is not None:
            _, stop, step = bounds
            zero = self.constant(0, DType.int64)
            mode.loc = f.source.loc(node.iter)
            cond = fn_ops.logical_or(fn_ops.logical_and(step > zero, i < stop),
                                     fn_ops.logical_and(step < zero, i > stop))
        else:
            cond = self.truth(self.expr(node.test, f), node.test, f)
        for name in (BRK, RET):
            flag = f.env.get(name)
            if isinstance(flag, Tensor):
                cond = fn_ops.logical_and(cond, fn_ops.logical_not(flag))
            elif flag is True:
                cond = self.constant(False, DType.bool)
        return cond

    def split(self, value, leaves: list) -> Any:
        """A template of `value` (tuples and lists of tensors and numbers), its tensors (numbers
        made tensors) appended to `leaves`; None for anything else."""
        if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
            children = [self.split(v, leaves) for v in value]
            return None if any(c is None for c in children) else _Node(type(value), children)
        t = value if isinstance(value, Tensor) else self.as_tensor(value, value)
        if t is None:
            return None
        leaves.append(t)
        return _Slot()

    def join(self, name, value, template, starts, yields: list, f, node) -> None:
        """The IR values `value` yields for a carried variable shaped like `template`."""
        if isinstance(template, _Node):
            if not isinstance(value, template.kind) or len(value) != len(template.children):
                raise f.source.error(node, f"variable '{show(name)}' is a {template.kind.__name__} "
                                           f"of {len(template.children)} when the loop starts "
                                           f"and {describe(value)} after its body",
                                     "a loop must keep each variable's structure",
                                     escape=True)  # a static range unrolls instead
            for v, child in zip(value, template.children):
                self.join(name, v, child, starts, yields, f, node)
            return
        key, start = next(starts)
        yields.append(self.carried_value(name, value, start, f, node, key))

    def carried_value(self, name, value, start: Tensor, f, node, key=None) -> Any:
        want = self.ir_type(start)
        if isinstance(value, Undefined) or value is MISSING:
            raise f.source.error(node, f"variable '{show(name)}' is carried by this loop but "
                                       "undefined at the end of its body")
        t = value if isinstance(value, Tensor) else self.as_tensor(value, start)
        if t is None or self.ir_type(t) != want:
            got = self.ir_type(t) if t is not None else describe(value)
            line = f.source.loc(node).line
            at = f.assigned.get(name, node)
            error = f.source.error(at, f"variable '{show(name)}' is {want} when the loop at "
                                       f"line {line} starts and {got} after this assignment",
                                   "a loop may change a variable's sizes but must keep its "
                                   "dtype and number of dims; loop over range() with a bound "
                                   "known when scripting (a Python int or a shape: the loop is "
                                   "unrolled), or build the value in a preallocated tensor",
                                   escape=True)  # a static range unrolls instead
            wider = merged_type(want, got) if t is not None else None
            if wider is not None and key is not None:
                raise _Widen(key, wider, error)
            raise error
        return self.mode.value_of(t)

    loop_retval: Any = None
    widen_loops: bool = True  # a carried size that changes becomes `?` (see scripting._script)
    unrolled_source = None  # the container a for loop over Python values iterates



def _first(mode, t: Tensor):
    """The data a loop block argument starting as `t` has in the first iteration (capturing
    with values); None when capturing abstractly."""
    return None if mode.abstract else t._data


def _zeros_like(value):
    leaves, structure, _ = pytree.flatten(value)
    return pytree.unflatten(structure, [Tensor._wrap(np.zeros(t.shape, t._data.dtype))
                                        for t in leaves])


def fn_ops_zeros(t: Tensor, type_: TensorType | None = None) -> Tensor:
    """Zeros like `t`; a `?` dim of its graph type `type_` is 0 (the merge makes it `?`)."""
    from tracejit import creation
    shape = t.shape if type_ is None else [0 if d is None else d for d in type_.shape]
    return creation.zeros(*shape, dtype=t.dtype)


def merged_type(a: TensorType, b: TensorType) -> TensorType | None:
    """The type of a value that is `a` on one path and `b` on another: sizes that differ (or
    are `?` on either) become `?`; None where the dtype or rank differs."""
    if a.dtype != b.dtype or a.ndim != b.ndim:
        return None
    return TensorType(a.dtype, tuple(x if x == y else None for x, y in zip(a.shape, b.shape)))


def node_target(node) -> str | None:
    target = getattr(node, "target", None)
    return target.id if isinstance(target, ast.Name) else None


def _has_exit(stmts) -> bool:
    """Whether a loop body has a break (of this loop) or a return."""
    for stmt in stmts:
        for sub in _walk_loop(stmt):
            if isinstance(sub, (ast.Break, ast.Return)):
                return True
    return False


def _walk_loop(node):
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.For, ast.While)):
            for sub in ast.walk(child):  # breaks inside belong to the inner loop
                if isinstance(sub, ast.Return):
                    yield sub
            continue
        if isinstance(child, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        yield from _walk_loop(child)


class _Widen(Exception):
    """A carried leaf (`key`: name and position) needs the wider `type` (`?` sizes); `error`
    is what to raise where the loop unrolls instead."""

    def __init__(self, key, type_, error):
        super().__init__(key)
        self.key, self.type, self.error = key, type_, error


class _Node:
    def __init__(self, kind, children):
        self.kind, self.children = kind, children


class _Slot:
    pass


def _build(value, results):
    if isinstance(value, _Slot):
        return next(results)
    if isinstance(value, _Node):
        return value.kind(_build(c, results) for c in value.children)
    return value


def _restore_names(env: dict, saved: dict) -> dict:
    out = dict(saved)
    for name, value in env.items():
        if name in saved:
            out[name] = value
    return out


def _same_static(a, b) -> bool:
    if a is b:
        return True
    if isinstance(a, Tensor) or isinstance(b, Tensor) or type(a) is not type(b):
        return False
    if isinstance(a, (bool, int, float, str, type(None))):
        return a == b and (not isinstance(a, float) or str(a) == str(b))
    return False


def _number_dtype(a, b) -> DType:
    if isinstance(a, bool) and isinstance(b, bool):
        return DType.bool
    if isinstance(a, float) or isinstance(b, float):
        return DType.float64
    return DType.int64
