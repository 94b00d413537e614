"""User attributes on tensors and parameters (`p._no_weight_decay = True`), against torch 2.13:
they belong to the Python object, survive copy and pickle, and tracing is not disturbed."""

import copy
import pickle

import pytest
import torch

import tracejit


@pytest.fixture(params=["tensor", "parameter"])
def pair(request):
    """The same tagged object in torch and tracejit."""
    if request.param == "tensor":
        ours, theirs = tracejit.ones(3), torch.ones(3)
    else:
        ours = tracejit.nn.Parameter(tracejit.ones(3))
        theirs = torch.nn.Parameter(torch.ones(3))
    for t in (ours, theirs):
        t._no_weight_decay = True
        t.tag = {"group": 1}
    return ours, theirs


def test_attributes_are_stored_and_listed(pair):
    ours, theirs = pair
    assert ours._no_weight_decay is theirs._no_weight_decay is True
    assert vars(ours) == vars(theirs)
    assert getattr(ours, "missing", None) is getattr(theirs, "missing", None) is None
    del ours.tag
    del theirs.tag
    assert vars(ours) == vars(theirs)


@pytest.mark.parametrize("derive", [
    lambda t: t.detach(), lambda t: t.clone(), lambda t: t[0:2], lambda t: t.data,
    lambda t: t + 1, lambda t: t.view(3),
])
def test_derived_tensors_do_not_inherit(pair, derive):
    ours, theirs = pair
    assert vars(derive(ours)) == vars(derive(theirs)) == {}


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_keep_what_torch_keeps(pair, how):
    ours, theirs = pair
    copier = {"copy": copy.copy, "deepcopy": copy.deepcopy,
              "pickle": lambda t: pickle.loads(pickle.dumps(t))}[how]
    ours_copy, theirs_copy = copier(ours), copier(theirs)
    assert vars(ours_copy) == vars(theirs_copy)
    assert type(ours_copy).__name__ == type(theirs_copy).__name__


def test_properties_stay_read_only():
    for t in (tracejit.ones(2), torch.ones(2)):
        with pytest.raises(AttributeError):
            t.shape = (3,)


def test_module_parameter_tag_and_trace():
    """mamba's idiom: tag a parameter in __init__, filter on it, and trace the module."""
    class Net(tracejit.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = tracejit.nn.Parameter(tracejit.arange(4.0))
            self.a._no_weight_decay = True
            self.lin = tracejit.nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(x) * self.a

    net = Net()
    tagged = [n for n, p in net.named_parameters() if getattr(p, "_no_weight_decay", False)]
    assert tagged == ["a"]
    x = tracejit.randn(2, 4)
    traced = tracejit.trace(net, x)
    assert tracejit.allclose(traced(x), net(x))
    assert copy.deepcopy(net).a.__dict__ == {}  # torch's Parameter.__deepcopy__ drops them
