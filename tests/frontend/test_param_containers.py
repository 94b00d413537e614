"""nn.ParameterList, nn.ParameterDict and nn.Buffer against torch 2.13 twins: indexing,
iteration, the dict API, state_dict keys and loading, reprs, errors, and a model using all
three eager, traced, scripted and through a graph file."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import tracejit as tj

torch = pytest.importorskip("torch")


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def both(fn):
    """fn(lib) for tracejit and torch."""
    return fn(tj), fn(torch)


def same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k].detach().numpy(), sb[k].detach().numpy())


def torch_repr(text: str) -> str:
    return text.replace("tracejit.", "torch.")


def test_parameter_list_indexing_iteration_and_state_dict():
    def build(L):
        pl = L.nn.ParameterList([L.nn.Parameter(L.tensor(arr(2, 3))), L.tensor(arr(3, seed=1))])
        pl.append(L.tensor(arr(1, seed=2)))
        pl.extend([L.tensor(arr(2, seed=3))])
        pl += [L.nn.Parameter(L.tensor(arr(4, seed=4)), requires_grad=False)]
        return pl

    a, b = both(build)
    same_state(a, b)
    assert len(a) == len(b) == 5
    assert all(type(p) is tj.nn.Parameter for p in a)
    assert [tuple(p.shape) for p in a] == [tuple(p.shape) for p in b]
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]
    np.testing.assert_array_equal(a[-1].detach().numpy(), b[-1].detach().numpy())
    assert a[4].requires_grad is b[4].requires_grad is False
    sliced_a, sliced_b = a[1:4:2], b[1:4:2]
    assert type(sliced_a) is tj.nn.ParameterList and len(sliced_a) == len(sliced_b) == 2
    same_state(sliced_a, sliced_b)
    a[0] = tj.tensor(arr(2, 3, seed=9))
    b[0] = torch.tensor(arr(2, 3, seed=9))
    same_state(a, b)
    assert torch_repr(repr(a)) == repr(b)


def test_parameter_list_errors_match_torch():
    a, b = both(lambda L: L.nn.ParameterList([L.tensor(arr(2))]))
    for pl in (a, b):
        with pytest.raises(IndexError, match="index 1 is out of range"):
            pl[1]
        with pytest.raises(IndexError, match="index -2 is out of range"):
            pl[-2]
        with pytest.raises(TypeError, match="should be called with an iterable"):
            pl.extend(pl[0])
        with pytest.raises(RuntimeError, match="ParameterList should not be called"):
            pl(1)


def test_parameter_dict_api_matches_torch():
    def build(L):
        pd = L.nn.ParameterDict({"b": L.tensor(arr(2)), "a": L.tensor(arr(1, 3, seed=1))})
        pd["c"] = L.nn.Parameter(L.tensor(arr(3, seed=2)))
        pd.update([("d", L.tensor(arr(1, seed=3)))])
        pd.update(OrderedDict([("z", L.tensor(arr(2, seed=4))), ("e", L.tensor(arr(2)))]))
        return pd

    a, b = both(build)
    assert list(a.keys()) == list(b.keys()) == ["a", "b", "c", "d", "z", "e"]
    same_state(a, b)
    assert torch_repr(repr(a)) == repr(b)
    assert ("a" in a, "q" in a, len(a)) == ("a" in b, "q" in b, len(b))
    assert list(reversed(a)) == list(reversed(b))
    for pd in (a, b):
        assert pd.get("nope") is None
        pd.setdefault("f", None)
        popped = pd.pop("b")
        assert tuple(popped.shape) == (2,)
        assert pd.popitem()[0] == "f"
    assert list(a) == list(b)
    merged_a, merged_b = a | tj.nn.ParameterDict({"y": tj.ones(1)}), b | torch.nn.ParameterDict(
        {"y": torch.ones(1)})
    assert list(merged_a.keys()) == list(merged_b.keys())
    same_state(merged_a, merged_b)
    copied = a.copy()
    assert copied["a"] is a["a"]
    a.clear()
    assert len(a) == 0 and list(a.state_dict()) == []


def test_parameter_dict_errors_match_torch():
    for L in (tj, torch):
        pd = L.nn.ParameterDict()
        with pytest.raises(TypeError, match="cannot be used as a key as it is not a string"):
            pd[1] = L.ones(1)
        with pytest.raises(TypeError, match="should be called with an iterable"):
            pd.update(3)
        with pytest.raises(ValueError, match="element #0 has length 3; 2 is required"):
            pd.update([("a", 1, 2)])
        with pytest.raises(AttributeError, match="has no attribute 'missing'"):
            pd.pop("missing")  # torch's ParameterDict reads keys as attributes
        with pytest.raises(KeyError, match="dictionary is empty"):
            L.nn.ParameterDict().popitem()
        with pytest.raises(RuntimeError, match="ParameterDict should not be called"):
            pd(1)


class _Net:
    """The same model in both libraries: parameters in a list and a dict, buffers by nn.Buffer."""

    @staticmethod
    def build(L):
        class Net(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.weights = L.nn.ParameterList(
                    [L.tensor(arr(4, 4, seed=k)) for k in range(3)])
                self.scales = L.nn.ParameterDict({"out": L.tensor(arr(4, seed=5)),
                                                  "in": L.tensor(arr(4, seed=6))})
                self.offset = L.nn.Buffer(L.tensor(arr(4, seed=7)))
                self.cache = L.nn.Buffer(L.ones(4), persistent=False)

            def forward(self, x):
                x = x * self.scales["in"]
                for w in self.weights:
                    x = (x @ w).tanh()
                return x * self.scales["out"] + self.offset + self.cache

        return Net()


def test_buffers_register_with_their_persistence():
    a, b = both(_Net.build)
    assert list(a.state_dict()) == list(b.state_dict())
    assert [n for n, _ in a.named_buffers()] == [n for n, _ in b.named_buffers()]
    assert isinstance(a.offset, tj.nn.Buffer) and isinstance(b.offset, torch.nn.Buffer)
    assert not isinstance(tj.ones(1), tj.nn.Buffer)
    for m, L in ((a, tj), (b, torch)):
        m.offset = L.zeros(4)  # a plain tensor replaces the buffer's value
        assert "offset" in m.state_dict()
        m.cache = L.nn.Buffer(L.ones(2), persistent=True)
        assert "cache" in m.state_dict()
    assert list(a.state_dict()) == list(b.state_dict())
    buf = tj.nn.Buffer(tj.ones(2), persistent=False)
    assert buf.persistent is False and copy.deepcopy(buf).persistent is False
    assert pickle.loads(pickle.dumps(buf)).persistent is False
    np.testing.assert_array_equal(buf.detach().numpy(),
                                  torch.nn.Buffer(torch.ones(2)).detach().numpy())


def test_model_eager_trace_script_and_graph_file_match_torch(tmp_path):
    mine, theirs = both(_Net.build)
    mine.load_state_dict({k: tj.tensor(v.detach().numpy())
                          for k, v in theirs.state_dict().items()})
    x = arr(3, 4, seed=11)
    want = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(mine(tj.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    traced = tj.trace(mine, tj.tensor(x))
    np.testing.assert_allclose(traced(tj.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    scripted = tj.script(mine)
    np.testing.assert_allclose(scripted(tj.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    tj.save(traced, tmp_path / "net.tjg")
    loaded = tj.load(tmp_path / "net.tjg")
    np.testing.assert_allclose(loaded(tj.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in
                                                       theirs.named_parameters()]
