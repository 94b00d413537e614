"""x ** scalar against PyTorch 2.13 (CPU): torch's pow by a Python-number exponent takes
shortcuts (sqrt for 0.5, x*x for 2, x*x*x for 3, 1/sqrt(x) for -0.5, 1/x for -1, 1/(x*x)
for -2) that differ from C pow on special values; eager, the reference interpreter and the
compiled backend follow them bit for bit. Also bool ** True / False (fuzzer finding F5)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import tracejit

SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, -2.5, 1.0, 2.0, 1e-40, 3e38, -3e38, 1e-30,
           0.3, 7.0, -7.3, 1e-5]
N_SPECIAL = 7  # the first ones: +-0, +-inf, nan, negatives
TORCH_FORMULA = (2.0, 3.0, -0.5, -1.0, -2.0)  # bit for bit with torch on any value
SHORTCUTS = (0.5, *TORCH_FORMULA, 0.0, 1.0)  # compiled == reference bit for bit
EXPONENTS = (*SHORTCUTS, 1.5)  # 1.5: C pow, within a unit in the last place


def _values(dtype) -> np.ndarray:
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        return np.concatenate([np.array(SPECIAL, np.float64).astype(dtype),
                               rng.uniform(-10, 10, 64).astype(dtype),
                               rng.uniform(0, 3, 64).astype(dtype)])


def _run(f, *arrays, backend=None, mode="trace"):
    inputs = [tracejit.tensor(a) for a in arrays]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if mode == "eager":
            return f(*inputs).numpy()
        kwargs = {} if backend is None else {"backend": backend}
        return tracejit.trace(f, *inputs, **kwargs)(*inputs).numpy()


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nan = np.isnan(a)
    return bool((nan == np.isnan(b)).all()) and a[~nan].tobytes() == b[~nan].tobytes()


def _ulps(a, b) -> int:
    """Largest distance in units of the last place between non-NaN elements (NaNs must match)."""
    assert (np.isnan(a) == np.isnan(b)).all()
    ok = ~np.isnan(a)
    kind = {2: np.int16, 4: np.int32, 8: np.int64}[a.dtype.itemsize]
    ia, ib = a[ok].view(kind).astype(np.int64), b[ok].view(kind).astype(np.int64)
    return int(np.abs(ia - ib).max(initial=0))


@pytest.mark.parametrize("exponent", EXPONENTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_power_matches_torch(dtype, exponent):
    x = _values(dtype)
    expected = (torch.from_numpy(x) ** exponent).numpy()
    eager = _run(lambda x: x ** exponent, x, mode="eager")
    reference = _run(lambda x: x ** exponent, x, backend="eager")
    compiled = _run(lambda x: x ** exponent, x)
    assert _same_bits(eager, reference)
    assert _same_bits(compiled, reference) if exponent in SHORTCUTS else \
        _ulps(compiled, reference) <= 1
    n = N_SPECIAL
    assert _same_bits(eager[:n], expected[:n])  # specials: torch's shortcut, sign of zero too
    if exponent in TORCH_FORMULA:
        assert _same_bits(eager, expected)
    else:  # torch's vectorized sqrt and pow may differ from the correctly rounded ones
        assert _ulps(eager, expected) <= 1


@pytest.mark.parametrize("exponent", SHORTCUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_compiled_power_is_reference_in_fused_code(dtype, exponent):
    x = _values(dtype)
    f = lambda x: (x * 1.0) ** exponent + 0.0  # noqa: E731
    assert _same_bits(_run(f, x), _run(f, x, backend="eager"))


@pytest.mark.parametrize("exponent", [-0.5, 3.0, -2.0, 0.5, 2.0, -1.0, 0.0, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_d_exponent_input_compiled_is_reference(dtype, exponent):
    """An exponent read at run time (a 0-d input) is a tensor exponent: C pow, with numpy's
    exact fast paths for -1, 0, 0.5, 1, 2; the C library's pow and numpy's are within a unit
    in the last place elsewhere, and agree on every special value."""
    x, y = _values(dtype), np.array(exponent, dtype)
    f = lambda x, y: x ** y  # noqa: E731
    compiled, reference = _run(f, x, y), _run(f, x, y, backend="eager")
    assert _same_bits(compiled[:N_SPECIAL], reference[:N_SPECIAL])
    assert _same_bits(compiled, reference) if exponent not in TORCH_FORMULA[1:] or \
        exponent == -1.0 else _ulps(compiled, reference) <= 1


@pytest.mark.parametrize("exponent", [-0.5, 3.0, -2.0])
def test_full_shape_exponent_tensor_is_c_pow_as_in_torch(exponent):
    """torch's shortcuts are for a scalar exponent; an exponent tensor of the result's shape
    gets pow's own special values ((-0.0) ** -0.5 == +inf)."""
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 2.0], np.float32)
    y = np.full(x.shape, exponent, np.float32)
    expected = (torch.from_numpy(x) ** torch.from_numpy(y)).numpy()
    got = _run(lambda x, y: x ** y, x, y, mode="eager")
    assert _same_bits(got, expected)
    assert _same_bits(_run(lambda x, y: x ** y, x, y), got)


def test_minus_half_specials_are_rsqrt():
    x = np.array([-0.0, -np.inf, 0.0, np.inf], np.float32)
    got = _run(lambda x: x ** -0.5, x)
    assert _same_bits(got, np.array([-np.inf, np.nan, np.inf, 0.0], np.float32))
    assert _same_bits(got, (torch.from_numpy(x) ** -0.5).numpy())


def test_float16_scalar_power_close_to_torch():
    """torch's half pow computes powf in float for every exponent (no shortcuts); tracejit
    computes half in float32: equal within a last-place unit on ordinary values."""
    x = _values(np.float16)[len(SPECIAL):]
    for exponent in EXPONENTS:
        expected = (torch.from_numpy(x) ** exponent).numpy()
        got = (tracejit.tensor(x) ** exponent).numpy()
        assert _ulps(got, expected) <= 1


# --- F5: bool ** Python bool ----------------------------------------------------------------------
BOOL_EXPONENTS = [True, False, 1, 0, 2, 1.0, 0.0, 2.0, 0.5]


@pytest.mark.parametrize("exponent", BOOL_EXPONENTS, ids=repr)
@pytest.mark.parametrize("mode", ["eager", "trace", "script"])
def test_bool_power_matches_torch(exponent, mode):
    x = np.array([[False, True, True], [True, False, False]])
    expected = torch.pow(torch.from_numpy(x), exponent)
    f = lambda x: tracejit.pow(x, exponent)  # noqa: E731
    t = tracejit.tensor(x)
    got = f(t) if mode == "eager" else tracejit.trace(f, t)(t) if mode == "trace" else \
        tracejit.script(_pow_of)(t, exponent)
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def _pow_of(x, e):
    return x ** e


def test_bool_power_in_place_matches_torch():
    x = np.array([False, True])
    for exponent in (True, False):
        ours, theirs = tracejit.tensor(x), torch.from_numpy(x.copy())
        ours.pow_(exponent)
        theirs.pow_(exponent)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("mode", ["eager", "script"])
def test_bool_to_a_bool_tensor_power_raises_like_torch(mode):
    x = np.array([False, True])
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        torch.pow(torch.from_numpy(x), torch.tensor(True))
    f = tracejit.pow if mode == "eager" else tracejit.script(_pow_of)
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        f(tracejit.tensor(x), tracejit.tensor(True))


# --- the shortcuts apply exactly where torch applies them -----------------------------------------
# torch's pow(Tensor, Scalar) takes them for a Python-number exponent (not for float16); a
# tensor exponent (0-d, one element or full) gets C pow: (-0.0) ** 0.5 == +0.0,
# (-inf) ** 0.5 == +inf, (-0.0) ** -0.5 == +inf.
FORMS = ("python", "zero_d", "one_element", "full")
DTYPES = (np.float16, np.float32, np.float64)


def _exponent(form: str, exponent: float, x: np.ndarray):
    """The exponent as a Python number or a tensor of x's dtype (None for the Python form)."""
    if form == "python":
        return None
    shape = {"zero_d": (), "one_element": (1,), "full": x.shape}[form]
    return np.full(shape, exponent, x.dtype)


def _torch_power(x: np.ndarray, exponent: float, y) -> np.ndarray:
    base = torch.from_numpy(x)
    return (base ** exponent if y is None else base ** torch.from_numpy(y)).numpy()


def _pow_of_python(exponent):
    return lambda x: x ** exponent


def _scripted_python(exponent):
    e = exponent

    def f(x):
        return x ** e
    return tracejit.script(f)


def _ours(x, exponent, y, mode, backend=None):
    t = [tracejit.tensor(x)] + ([] if y is None else [tracejit.tensor(y)])
    f = _pow_of_python(exponent) if y is None else _pow_of
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if mode == "eager":
            return f(*t).numpy()
        if mode == "script":
            g = _scripted_python(exponent) if y is None else tracejit.script(_pow_of)
            return g(*t).numpy()
        kwargs = {} if backend is None else {"backend": backend}
        return tracejit.trace(f, *t, **kwargs)(*t).numpy()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("exponent", EXPONENTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_exponent_form_matches_torch_in_every_mode(dtype, exponent, form):
    x = _values(dtype)
    y = _exponent(form, exponent, x)
    expected = _torch_power(x, exponent, y)
    for mode in ("eager", "trace", "script"):
        got = _ours(x, exponent, y, mode)
        assert _same_bits(got[:N_SPECIAL], expected[:N_SPECIAL]), (mode, got[:N_SPECIAL])
        assert _ulps(got, expected) <= 1, mode


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("exponent", EXPONENTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_exponent_form_compiled_is_reference(dtype, exponent, form):
    """Bit for bit wherever a formula decides (the shortcuts and numpy's fast paths); C pow
    (numpy's and the C library's) within a last-place unit, exact on the special values."""
    x = _values(dtype)
    y = _exponent(form, exponent, x)
    reference = _ours(x, exponent, y, "trace", backend="eager")
    compiled = _ours(x, exponent, y, "trace")
    assert _same_bits(compiled[:N_SPECIAL], reference[:N_SPECIAL])
    formula = form == "python" and dtype != np.float16 and exponent in SHORTCUTS
    numpy_fast = form in ("python", "zero_d", "one_element") and exponent in (-1, 0, 0.5, 1, 2)
    assert _same_bits(compiled, reference) if formula or numpy_fast else \
        _ulps(compiled, reference) <= 1


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_tensor_exponent_specials_are_c_pow(dtype):
    x = np.array([-0.0, -np.inf, -0.0, -np.inf], dtype)
    for y in (np.array(0.5, dtype), np.array([0.5], dtype), np.array(-0.5, dtype)):
        want = (torch.from_numpy(x) ** torch.from_numpy(y)).numpy()
        for mode in ("eager", "trace", "script"):
            assert _same_bits(_ours(x, None, y, mode), want)


def test_float16_minus_half_takes_no_shortcut_like_torch():
    x = np.array([-0.0, -np.inf, 0.0, np.inf], np.float16)
    want = (torch.from_numpy(x) ** -0.5).numpy()
    assert _same_bits(want, np.array([np.inf, 0.0, np.inf, 0.0], np.float16))  # powf's
    for mode in ("eager", "trace", "script"):
        assert _same_bits(_ours(x, -0.5, None, mode), want)
    assert _same_bits(_ours(x, -0.5, None, "trace", backend="eager"), want)


def test_in_place_power_follows_the_exponent_form():
    x = np.array([-0.0, -np.inf, 4.0], np.float32)
    for exponent in (0.5, torch.tensor(0.5)):
        theirs = torch.from_numpy(x.copy())
        theirs.pow_(exponent)
        ours = tracejit.tensor(x)
        ours.pow_(exponent if isinstance(exponent, float) else tracejit.tensor(np.float32(0.5)))
        assert _same_bits(ours.numpy(), theirs.numpy())


# --- graph files: pow's scalar_exponent attribute -------------------------------------------------
_POW_GRAPH = """graph @p(%x: float32[4]) -> (float32[4]) {{
  %0 = constant() {{value = dense<float32[]: {e}>}} : float32[]
  %1 = pow(%x, %0){attrs} : float32[4]
  return(%1)
}}
"""


@pytest.mark.parametrize("attrs,shortcut", [("", True), (" {scalar_exponent = false}", False),
                                            (" {scalar_exponent = true}", True)])
def test_graph_file_pow_attribute_prints_parses_and_runs(attrs, shortcut):
    from tracejit.ir.parser import parse
    from tracejit.ir.printer import print_graph
    from tracejit.ir.verifier import verify
    from tracejit.runtime.eager import interpret
    from tracejit.runtime.executor import Plan

    graph = parse(_POW_GRAPH.format(e="-0.5", attrs=attrs))  # none: an old file, shortcuts
    verify(graph)
    text = print_graph(graph)
    assert f"scalar_exponent = {'true' if shortcut else 'false'}" in text
    assert print_graph(parse(text)) == text
    x = np.array([-0.0, -np.inf, 4.0, 0.0], np.float32)
    want = (torch.from_numpy(x) ** (-0.5 if shortcut else torch.tensor(-0.5))).numpy()
    with np.errstate(all="ignore"):
        assert _same_bits(interpret(graph, [x])[0], want)
        assert _same_bits(Plan(graph)([x])[0], want)


def test_graph_file_pow_attribute_must_be_a_bool():
    from tracejit.ir.parser import parse
    from tracejit.ir.verifier import verify

    with pytest.raises(Exception, match="scalar_exponent"):
        verify(parse(_POW_GRAPH.format(e="0.5", attrs=" {scalar_exponent = 1}")))


def _power_by_argument(x, e):
    return x ** e


@pytest.mark.parametrize("backend", ["llvm", "eager"])
@pytest.mark.parametrize("exponent", [0.5, -0.5, 3, -2, 2, -1])
def test_scripted_number_argument_exponent_takes_torchs_shortcuts(backend, exponent):
    """A scripted function's float/int argument is a Python number to torch: x ** e takes the
    pow(Tensor, Scalar) shortcuts there too (it is a 0-d input in the graph)."""
    x = np.array([-0.0, -np.inf, np.inf, 0.0, 4.0, 0.5], np.float32)
    scripted = tracejit.script(_power_by_argument, backend=backend)
    got = scripted(tracejit.tensor(x), exponent).numpy()
    with np.errstate(all="ignore"):
        assert _same_bits(got, _power_by_argument(torch.from_numpy(x), exponent).numpy())
