"""Every construct @tracejit.script cannot capture gives a ScriptError pinned verbatim: file,
line and column, the source line, a caret under the construct, the reason and a hint."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import script_errors as E

import tracejit as tj

FILE = E.__file__


def error_of(fn, *args) -> str:
    with pytest.raises(tj.ScriptError) as info:
        tj.script(fn, backend="eager")(*args)
    return str(info.value)


def at(fn, offset: int, col: int) -> str:
    """`file:line:col: error: ` for the line `offset` lines below `fn`'s def."""
    line = inspect.getsourcelines(fn)[1] + offset
    return f"{FILE}:{line}:{col}: error: "


X = tj.tensor(np.ones(3, np.float32))

CASES = {
    "try": (E.uses_try, (X,), 1, 5,
            "try/except cannot be scripted\n"
            "        try:\n"
            "        ^^^^\n"
            "  hint: the graph has no exceptions; check inputs before calling, or use assert "
            "for a runtime check"),
    "with": (E.uses_with, (X,), 1, 10,
             "'with open('f') as fh' cannot be scripted: only grad-mode blocks are "
             "('with torch.no_grad():', 'with torch.enable_grad():', "
             "'with torch.inference_mode():', or tracejit's)\n"
             '        with open("f") as fh:\n'
             "             ^^^^^^^^^\n"
             "  hint: move the with statement outside the scripted function"),
    "comprehension over a tensor": (
        E.comprehension_over_tensor, (X,), 1, 32,
        "a comprehension over a tensor cannot be scripted\n"
        "        return [row * 2 for row in x]\n"
        "                                   ^\n"
        "  hint: use a for loop, or tensor ops on the whole tensor"),
    "numpy": (E.calls_numpy, (X,), 1, 12,
              "a call into numpy (cbrt) with a tensor: numpy code is not captured\n"
              "        return np.cbrt(x)  # a ufunc without a tracejit op\n"
              "               ^^^^^^^^^^\n"
              "  hint: use the tracejit function of the same name"),
    "list mutation": (E.appends, (X, []), 1, 5,
                      "list.append() changes a list the scripted code did not make (a global, "
                      "an argument or an attribute): the graph cannot replay it\n"
                      "        out.append(x)\n"
                      "        ^^^^^^^^^^^^^\n"
                      "  hint: build the container inside the function, or return the values"),
    "item assignment": (E.sets_item, (X,), 1, 5,
                        "item assignment changes a list the scripted code did not make (a "
                        "global, an argument or an attribute): the graph cannot replay it\n"
                        "        TABLE[0] = x\n"
                        "        ^^^^^^^^\n"
                        "  hint: build the container inside the function, or return the values"),
    "global": (E.uses_global, (X,), 1, 5,
               "a global statement (mutating globals) cannot be scripted\n"
               "        global TABLE\n"
               "        ^^^^^^^^^^^^\n"
               "  hint: return the value instead"),
    "shape change in a loop": (
        E.grows, (X, tj.tensor(3)), 2, 9,
        "variable 'x' is float32[3] when the loop at line {loop} starts and float32[2,3] after "
        "this assignment\n"
        "            x = tj.stack([x, x])\n"
        "            ^^^^^^^^^^^^^^^^^^^^\n"
        "  hint: a loop may change a variable's sizes but must keep its dtype and number of "
        "dims; loop over range() with a bound known when scripting (a Python int or a shape: "
        "the loop is unrolled), or build the value in a preallocated tensor"),
    "branches disagree": (
        E.branch_types, (X,), 1, 5,
        "variable 'y' is float32[3] after the then branch and float32[] after the else branch\n"
        "        if x.sum() > 0:\n"
        "        ^^^^^^^^^^^^^^^\n"
        "  hint: both branches must give it the same dtype and number of dims (sizes may "
        "differ)"),
    "assigned in one branch": (
        E.one_branch, (X,), 3, 12,
        "variable 'y' is assigned in only one branch of the if at line {if}\n"
        "        return y\n"
        "               ^\n"
        "  hint: assign it on every path before this use"),
    "tensor needed as a number": (
        E.tensor_as_index, (X, X), 1, 9,
        "a tensor computed by the function is needed as a Python value here (int())\n"
        "        n = int(x.sum())\n"
        "            ^^^^^^^^^^^^\n"
        "  hint: keep the value a tensor (tracejit.where() selects without branching; an `if` "
        "on a one-element tensor is captured), or compute it from Python values and shapes "
        "known when the function is scripted"),
    "print": (E.prints, (X,), 1, 5,
              "print() in scripted code would run once, when the function is scripted, not on "
              "every call\n"
              "        print(x)\n"
              "        ^^^^^^^^\n"
              "  hint: remove it, or print the result outside the scripted function"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unsupported_construct_is_pinned(case):
    fn, args, offset, col, text = CASES[case]
    first = inspect.getsourcelines(fn)[1]
    text = text.replace("{loop}", str(first + 1)).replace("{if}", str(first + 1))
    assert error_of(fn, *args) == at(fn, offset, col) + text


def test_error_names_the_exact_node():
    with pytest.raises(tj.ScriptError) as info:
        tj.script(E.uses_try, backend="eager")(X)
    import ast
    assert isinstance(info.value.node, ast.Try)


def test_lambdas_are_scripted_inline():
    """A lambda is a callable the scripter runs inline (map, sorted and direct calls)."""
    np.testing.assert_allclose(tj.script(E.uses_lambda, backend="eager")(X).numpy(),
                               E.uses_lambda(X).numpy())


def test_attribute_assignment_of_a_list_in_a_scripted_method():
    """Tensors and immutable values assigned to module attributes are captured
    (test_script_idioms.py); a list would be one object shared by every call."""
    class Holder(tj.nn.Module):
        forward = E.sets_attribute

    with pytest.raises(tj.ScriptError) as info:
        tj.script(Holder(), backend="eager")([X])
    assert str(info.value) == at(E.sets_attribute, 1, 5) + (
        "assigning list to the attribute .cache of a Holder mutates Python state the graph "
        "cannot replay\n"
        "        self.cache = x\n"
        "        ^^^^^^^^^^\n"
        "  hint: module attributes may be assigned tensors, None, numbers, strings and tuples "
        "of them; keep other values in local variables")


def test_a_lambda_can_be_scripted_directly_unless_its_line_is_ambiguous():
    np.testing.assert_allclose(tj.script(lambda x: x * 2)(X).numpy(), (X * 2).numpy())
    _, g = (lambda x: x), (lambda x: x + 1)
    with pytest.raises(tj.ScriptError, match="2 lambdas with its parameters start on this"):
        tj.script(g)
