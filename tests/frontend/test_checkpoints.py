"""Checkpoints: tracejit.save/load of state dicts and nested training state, checked against
torch.save/torch.load of the same objects (the oracle), plus damaged files and torch pickles."""

import argparse
import collections
import hashlib
import io
import json
import math
import zipfile

import numpy as np
import pytest
import torch

import tracejit as tj

# (torch dtype, numpy dtype) of every dtype tracejit has
DTYPES = [(torch.float16, np.float16), (torch.float32, np.float32), (torch.float64, np.float64),
          (torch.uint8, np.uint8), (torch.int8, np.int8), (torch.int16, np.int16),
          (torch.int32, np.int32), (torch.int64, np.int64), (torch.bool, np.bool_)]


def round_trip_tj(obj, tmp_path, name="ckpt.tjc"):
    path = tmp_path / name
    tj.save(obj, path)
    return tj.load(path)


def round_trip_torch(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)  # (our own test data holds numpy arrays)


def to_torch(obj):
    """The torch twin of a tracejit object (tensors become torch tensors)."""
    if isinstance(obj, tj.nn.Parameter):
        return torch.nn.Parameter(torch.from_numpy(obj.detach().numpy().copy()),
                                  requires_grad=obj.requires_grad)
    if isinstance(obj, tj.Tensor):
        return torch.from_numpy(obj.detach().numpy().copy())
    if isinstance(obj, dict):
        out = type(obj)((k, to_torch(v)) for k, v in obj.items())
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_torch(v) for v in obj)
    return obj


def canonical(obj):
    """A comparable form: (kind, ...) with each array as its dtype, shape and raw bytes."""
    if isinstance(obj, (torch.nn.Parameter, tj.nn.Parameter)):
        return ("parameter", obj.requires_grad, canonical(obj.detach() if isinstance(
            obj, torch.Tensor) else tj.Tensor._wrap(obj.detach().numpy())))
    if isinstance(obj, (torch.Tensor, tj.Tensor)):
        a = obj.detach().numpy()
        return ("tensor", str(a.dtype), a.shape, a.tobytes())
    if isinstance(obj, np.ndarray):
        return ("ndarray", str(obj.dtype), obj.shape, obj.tobytes())
    if isinstance(obj, np.generic):
        return ("numpy scalar", str(obj.dtype), obj.tobytes())
    if isinstance(obj, float):
        return ("float", obj.hex())
    if isinstance(obj, dict):
        return (type(obj).__name__, [(canonical(k), canonical(v)) for k, v in obj.items()])
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [canonical(v) for v in obj])
    return (type(obj).__name__, obj)


def training_checkpoint():
    model = tj.nn.Sequential(tj.nn.Linear(3, 4), tj.nn.BatchNorm1d(4), tj.nn.ReLU())
    return {
        "model": model.state_dict(),
        "optimizer": {"state": {0: {"step": 3, "exp_avg": tj.randn(4, 3)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                        "amsgrad": False, "weight_decay": 0.0}]},
        "epoch": 3, "best_loss": float("inf"), "nan": float("nan"), "neg_zero": -0.0,
        "name": "run-1", "none": None, "big": 2 ** 70, "steps": [1, 2.5, "three", None],
        "mean": np.arange(6, dtype=np.float32).reshape(2, 3), "scale": np.float64(0.5),
        ("tuple", 1): "key", 7: [(), [], {}],
    }


def test_nested_training_state_round_trips_as_torch_save_does(tmp_path):
    obj = training_checkpoint()
    got = round_trip_tj(obj, tmp_path)
    want = round_trip_torch(to_torch(obj))
    assert canonical(got) == canonical(want)
    assert isinstance(got["model"]["0.weight"], tj.Tensor)
    assert got["model"]._metadata == want["model"]._metadata  # a state_dict's layer versions


@pytest.mark.parametrize("torch_dtype,np_dtype", DTYPES, ids=lambda d: str(d))
def test_every_dtype_and_shape_round_trips_bit_for_bit(tmp_path, torch_dtype, np_dtype):
    rng = np.random.default_rng(0)
    if np.issubdtype(np_dtype, np.floating):
        base = rng.standard_normal(12).astype(np_dtype)
        base[:4] = [np.nan, np.inf, -np.inf, -0.0]
    elif np_dtype is np.bool_:
        base = rng.random(12) > 0.5
    else:
        info = np.iinfo(np_dtype)
        base = rng.integers(info.min, info.max, 12, endpoint=True, dtype=np_dtype)
        base[:2] = [info.min, info.max]
    obj = {"0d": torch.tensor(base[5]), "1d": torch.from_numpy(base),
           "2d_t": torch.from_numpy(base.reshape(3, 4)).t(), "empty": torch.from_numpy(base[:0])}
    want = round_trip_torch(obj)
    got = round_trip_tj({k: tj.tensor(v.detach().numpy()) if k != "2d_t" else
                         tj.tensor(base.reshape(3, 4)).t() for k, v in obj.items()}, tmp_path)
    for key in obj:
        assert got[key].numpy().dtype == want[key].numpy().dtype == np.dtype(np_dtype)
        assert got[key].shape == tuple(want[key].shape)
        assert got[key].numpy().tobytes() == want[key].contiguous().numpy().tobytes(), key


def test_load_state_dict_of_a_loaded_checkpoint_restores_the_model_bit_for_bit(tmp_path):
    torch.manual_seed(0)
    twin = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(12, 5))
    twin.train()(torch.randn(4, 2, 4, 4))  # running statistics and num_batches_tracked move
    twin.eval()

    def build():
        return tj.nn.Sequential(tj.nn.Conv2d(2, 3, 3), tj.nn.BatchNorm2d(3), tj.nn.ReLU(),
                                tj.nn.Flatten(), tj.nn.Linear(12, 5)).eval()

    model = build()
    model.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    tj.save(model.state_dict(), tmp_path / "model.tjc")
    fresh = build()
    result = fresh.load_state_dict(tj.load(tmp_path / "model.tjc"))
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in twin.state_dict().items():
        got = fresh.state_dict()[key].detach().numpy()
        data = value.detach().numpy()
        assert got.dtype == data.dtype and got.tobytes() == data.tobytes()
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(np.float32)
    got, want = fresh(tj.tensor(x)).detach(), model(tj.tensor(x)).detach()
    assert got.numpy().tobytes() == want.numpy().tobytes()
    np.testing.assert_allclose(fresh(tj.tensor(x)).detach().numpy(),
                               twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_file_objects_work_like_paths(tmp_path):
    obj = {"w": tj.arange(6).reshape(2, 3), "step": 4}
    buffer = io.BytesIO()
    tj.save(obj, buffer)
    buffer.seek(0)
    got = tj.load(buffer, map_location="cpu", weights_only=True)
    assert got["step"] == 4 and got["w"].detach().numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    with open(tmp_path / "ckpt.tjc", "wb") as fh:
        tj.save(obj, fh)
    with open(tmp_path / "ckpt.tjc", "rb") as fh:
        assert canonical(tj.load(fh, map_location=torch.device("cpu"))) == canonical(got)


def test_shared_tensors_and_parameters_load_as_torch_loads_them(tmp_path):
    w = tj.randn(3)
    param = tj.nn.Parameter(tj.randn(2))
    got = round_trip_tj({"a": w, "b": w, "p": param, "frozen": tj.nn.Parameter(
        tj.ones(1), requires_grad=False)}, tmp_path)
    tw = torch.from_numpy(w.detach().numpy().copy())
    want = round_trip_torch({"a": tw, "b": tw, "p": torch.nn.Parameter(torch.ones(2)),
                             "frozen": torch.nn.Parameter(torch.ones(1), requires_grad=False)})
    assert (got["a"] is got["b"]) == (want["a"] is want["b"]) is True
    assert isinstance(got["p"], tj.nn.Parameter) and isinstance(want["p"], torch.nn.Parameter)
    assert got["p"].requires_grad == want["p"].requires_grad is True
    assert got["frozen"].requires_grad == want["frozen"].requires_grad is False
    assert got["a"].detach().numpy().tobytes() == w.detach().numpy().tobytes()


def test_loaded_tensors_are_writable_and_own_their_memory(tmp_path):
    got = round_trip_tj({"w": tj.zeros(3)}, tmp_path)
    got["w"].add_(1)
    assert got["w"].detach().numpy().tolist() == [1.0, 1.0, 1.0]


def test_a_long_history_list_round_trips(tmp_path):
    history = [float(x) for x in np.random.default_rng(0).standard_normal(200_000)]
    got = round_trip_tj({"loss_history": history}, tmp_path)
    assert got["loss_history"] == history  # (far past the 4 MiB a manifest may have)


def test_a_single_tensor_and_scalars_round_trip(tmp_path):
    assert round_trip_tj(tj.tensor(2.5), tmp_path).item() == 2.5
    assert round_trip_tj(7, tmp_path) == 7
    assert round_trip_tj([tj.float16, tj.int8], tmp_path) == [tj.float16, tj.int8]
    assert math.isnan(round_trip_tj(float("nan"), tmp_path))


# --- what cannot be saved -----------------------------------------------------------------------
def test_unsaveable_objects_name_what_and_where(tmp_path):
    with pytest.raises(TypeError, match=r"cannot save the module object Linear .*state_dict"):
        tj.save(tj.nn.Linear(1, 1), tmp_path / "m.tjc")
    with pytest.raises(TypeError, match=r"obj\['args'\]: .*argparse.Namespace.*vars\(args\)"):
        tj.save({"args": argparse.Namespace(lr=1)}, tmp_path / "a.tjc")
    with pytest.raises(TypeError, match="dict key of type Tensor"):
        tj.save({tj.ones(1): 1}, tmp_path / "k.tjc")
    with pytest.raises(TypeError, match="numpy array of dtype object"):
        tj.save({"x": np.array([object()])}, tmp_path / "o.tjc")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        tj.save(loop, tmp_path / "l.tjc")
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


# --- damaged files and torch's pickles ----------------------------------------------------------
def members(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(path, content: dict, manifest_edit=None) -> None:
    """Write `content` back as the archive, the manifest's sizes and checksums made to fit."""
    manifest = json.loads(content["manifest.json"])
    if manifest_edit:
        manifest_edit(manifest)
    for name, data in content.items():
        if name in manifest["members"]:
            manifest["members"][name] = {"size": len(data),
                                         "sha256": hashlib.sha256(data).hexdigest()}
    content["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)


def saved(tmp_path):
    path = tmp_path / "ckpt.tjc"
    tj.save({"w": tj.ones(2, 2), "n": [1, 2]}, path)
    return path


def load_error(path) -> str:
    with pytest.raises(tj.GraphFileError) as info:
        tj.load(path)
    return str(info.value)


def test_truncated_file(tmp_path):
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:-40])
    assert load_error(path).startswith(f"{path}: not a graph file, or truncated")


def test_damaged_array_fails_its_checksum(tmp_path):
    path = saved(tmp_path)
    content = members(path)
    content["arrays/0.npy"] = content["arrays/0.npy"][:-1] + b"\x01"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    assert load_error(path) == f"{path}: arrays/0.npy: checksum mismatch: the member is damaged"


@pytest.mark.parametrize("node,problem", [
    ({"tensor": "9"}, "names the array '9', which the manifest does not list"),
    ({"set": [1]}, "unknown node"),
    ({"dict": [[1]]}, "bad dict node"),
    ({"float": 1.5}, "bad float node"),
    ({"dtype": "complex64"}, "unknown dtype"),
    ({"tensor": "0", "extra": 1}, "bad tensor node"),
    ({"list": [[]] * 3}, "unknown node"),
])
def test_malformed_object_nodes(tmp_path, node, problem):
    path = saved(tmp_path)
    rewrite(path, {**members(path), "object.json": json.dumps(node).encode()})
    message = load_error(path)
    assert message.startswith(f"{path}: object.json: ") and problem in message


def test_deep_nesting_is_refused_not_a_crash(tmp_path):
    path = saved(tmp_path)
    content = members(path)
    for depth, problem in [(300, "nested more than 200 levels deep"),
                           (100_000, "is not valid JSON")]:
        text = '{"list": [' * depth + "1" + "]}" * depth
        rewrite(path, {**content, "object.json": text.encode()})
        assert problem in load_error(path)


def test_random_damage_gives_only_graph_file_errors(tmp_path):
    path = saved(tmp_path)
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    refused = 0
    for _ in range(150):
        raw = bytearray(good)
        for i in rng.integers(0, len(raw), rng.integers(1, 6)):
            raw[i] = rng.integers(0, 256)
        path.write_bytes(bytes(raw))
        try:
            tj.load(path)  # damage the zip format does not see (its padding) may load
        except tj.GraphFileError:
            refused += 1
    assert refused > 100


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_pickles_are_refused_with_the_way_to_convert(tmp_path, zip_format):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=zip_format)
    message = load_error(path)
    assert "PyTorch" in message and "never unpickles" in message
    assert "tracejit.save({k: v.numpy() for k, v in torch.load(p).items()}, out)" in message
    buffer = io.BytesIO(path.read_bytes())
    with pytest.raises(tj.GraphFileError, match="never unpickles"):
        tj.load(buffer)


def test_the_conversion_the_error_suggests_works(tmp_path):
    torch.manual_seed(0)
    twin = torch.nn.Linear(3, 2)
    torch.save(twin.state_dict(), tmp_path / "w.pt")
    tj.save({k: v.detach().numpy() for k, v in torch.load(tmp_path / "w.pt").items()},
            tmp_path / "w.tjc")
    model = tj.nn.Linear(3, 2)
    model.load_state_dict(tj.load(tmp_path / "w.tjc"))
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(model(tj.tensor(x)).detach().numpy(),
                               twin(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)


def test_graph_files_still_load_and_a_checkpoint_is_not_one(tmp_path):
    model = tj.nn.Sequential(tj.nn.Linear(3, 2)).eval()
    x = tj.randn(2, 3)
    buffer = io.BytesIO()
    tj.save(tj.trace(model, x, backend="eager"), buffer)
    buffer.seek(0)
    assert json.loads(zipfile.ZipFile(buffer).read("manifest.json"))["version"] == 1
    np.testing.assert_array_equal(tj.load(buffer, backend="eager")(x).detach().numpy(),
                                  model(x).detach().numpy())
    path = saved(tmp_path)
    with pytest.raises(tj.GraphFileError, match=r"is a checkpoint .* not compiled graphs"):
        tj.load(path, backend="eager")


# --- the hub cache ------------------------------------------------------------------------------
@pytest.fixture
def hub_dir(tmp_path):
    old = tj.hub._hub_dir
    tj.hub.set_dir(tmp_path / "hub")
    yield tmp_path / "hub" / "checkpoints"
    tj.hub._hub_dir = old


URL = "https://download.example.com/models/resnet18-f37072fd.pth"


def test_hub_without_a_cached_file_says_how_to_get_one(hub_dir):
    for load in (tj.hub.load_state_dict_from_url, tj.utils.model_zoo.load_url):
        with pytest.raises(RuntimeError) as info:
            load(URL)
        message = str(info.value)
        assert URL in message and "load_state_dict" in message and "does not download" in message
        assert str(hub_dir / "resnet18-f37072fd.pth") in message


def test_hub_loads_a_converted_cached_checkpoint_and_refuses_a_torch_one(hub_dir):
    hub_dir.mkdir(parents=True)
    cached = hub_dir / "resnet18-f37072fd.pth"
    torch.save({"w": torch.ones(2)}, cached)
    with pytest.raises(RuntimeError, match="is not a checkpoint tracejit can read") as info:
        tj.hub.load_state_dict_from_url(URL, map_location="cpu")
    assert URL in str(info.value)
    tj.save({"w": tj.ones(2)}, cached)
    got = tj.hub.load_state_dict_from_url(URL, map_location="cpu", check_hash=True)
    assert got["w"].detach().numpy().tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match=r"runs a repository.s hubconf\.py"):
        tj.hub.load("pytorch/vision", "resnet18", pretrained=True)


def test_ordered_dicts_stay_ordered_dicts(tmp_path):
    obj = collections.OrderedDict([("b", 1), ("a", 2)])
    got = round_trip_tj(obj, tmp_path)
    want = round_trip_torch(obj)
    assert type(got) is type(want) is collections.OrderedDict and list(got) == list(want)
