"""Untrusted files never hang, crash or leak a raw Python error: non-regular files, zip bombs,
npy headers that lie about their size, manifests with every field of the wrong JSON type, huge
integers, deep nesting, missing members, write-backs whose type differs from their input, and
the `tracejit run` / `tracejit-opt` commands on all of them (one error line, no traceback)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
import zipfile

import numpy as np
import pytest

import tracejit as tj
from tracejit.graphfile import MANIFEST

RNG = np.random.default_rng(0)
BAD_VALUES = [None, True, -1, 10**30, 1.5, "x", "", [], {}, [[["deep"]]], {"a": 1}, [None]]


def T(*shape, dtype=np.float32):
    return tj.tensor(RNG.standard_normal(shape).astype(dtype))


def within(seconds: float, fn, *args):
    """fn(*args)'s result or exception, failing the test instead of hanging if it blocks."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # handed to the test below
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} blocked for {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def load_error(path, **kwargs) -> str:
    with pytest.raises(tj.GraphFileError) as info:
        within(30, lambda: tj.load(path, **kwargs))
    return str(info.value)


def members_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write(path, members: dict[str, bytes], manifest_edit=None, fix=True) -> None:
    """Write `members` as a zip, the manifest's sizes and checksums fixed, then edited."""
    manifest = json.loads(members[MANIFEST])
    if fix:
        for name, data in members.items():
            if name in manifest.get("members", {}):
                manifest["members"][name] = {"size": len(data),
                                             "sha256": hashlib.sha256(data).hexdigest()}
    if manifest_edit:
        manifest_edit(manifest)
    members = {**members, MANIFEST: json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def npy(array=None, header: str | None = None, data: bytes = b"") -> bytes:
    """npy bytes of `array`, or a version 1.0 file with the raw `header` dict text and `data`."""
    if header is None:
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    text = header.encode("latin1")
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


@pytest.fixture
def model_file(tmp_path):
    """A traced module with state (Linear + BatchNorm in train mode: state written back)."""
    model = tj.nn.Sequential(tj.nn.Linear(4, 3), tj.nn.BatchNorm1d(3)).train()
    x = T(5, 4)
    traced = tj.trace(model, x)
    path = tmp_path / "model.tjg"
    tj.save(traced, path)
    return path, x


@pytest.fixture
def fn_file(tmp_path):
    """A function of two inputs that writes the first in place and returns it."""
    def f(x, y):
        x.add_(y.sum())
        return x, y * 2

    x, y = T(3, 4), T(2)
    traced = tj.trace(f, x.clone(), y)
    path = tmp_path / "fn.tjg"
    tj.save(traced, path)
    return path


# --- files that are not regular files never block ----------------------------------------------
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("loader", ["graph", "checkpoint"])
def test_dev_zero_and_links_to_it_are_refused(tmp_path, loader):
    link = tmp_path / "zero.tjg"
    link.symlink_to("/dev/zero")
    kwargs = {"backend": "eager"} if loader == "graph" else {}
    for path in ("/dev/zero", link):
        assert load_error(path, **kwargs) == (
            f"{path}: is a character device, not a regular file: graph files and checkpoints "
            "are read only from regular files")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.tjg"
    os.mkfifo(fifo)
    link = tmp_path / "link.tjg"
    link.symlink_to(fifo)
    for path in (fifo, link):
        assert load_error(path) == (f"{path}: is a FIFO (named pipe), not a regular file: graph "
                                    "files and checkpoints are read only from regular files")


def test_directory_and_missing_file(tmp_path):
    assert load_error(tmp_path).startswith(f"{tmp_path}: is a directory, not a regular file")
    assert load_error(tmp_path / "none.tjg") == f"{tmp_path / 'none.tjg'}: no such file"


def test_unseekable_file_object_is_read_bounded(tmp_path, monkeypatch, model_file):
    path, _ = model_file
    read, write_end = os.pipe()
    data = path.read_bytes()
    os.write(write_end, data)
    os.close(write_end)
    with open(read, "rb") as pipe:  # a pipe: not seekable
        assert isinstance(within(30, tj.load, pipe), tj.graphfile.LoadedGraph)
    monkeypatch.setenv("TRACEJIT_MAX_LOAD_BYTES", str(len(data) - 1))
    read, write_end = os.pipe()
    with open(read, "rb") as pipe, open(write_end, "wb") as sink:
        sink.write(data)
        sink.close()
        with pytest.raises(tj.GraphFileError, match="holds more than"):
            tj.load(pipe)


def test_every_public_loader_of_user_files(tmp_path, model_file):
    """torch.jit.load's and torch.hub's names and file objects go through the same checks."""
    path, _ = model_file
    with pytest.raises(tj.GraphFileError, match="is a character device"):
        within(30, tj.jit.load, "/dev/zero")
    with pytest.raises(tj.GraphFileError, match="not a graph file, or truncated"):
        tj.load(io.BytesIO(b"PK\x03\x04" + bytes(100)))
    folder = tmp_path / "hub"
    folder.mkdir()
    (folder / "w.pth").write_bytes(path.read_bytes()[:300])
    with pytest.raises(RuntimeError, match="is not a checkpoint tracejit can read"):
        tj.hub.load_state_dict_from_url("https://example.org/w.pth", model_dir=folder)


# --- declared sizes: nothing is allocated on a header's or manifest's word --------------------
def _patch_declared_size(path, name: str, size: int) -> None:
    """Make the zip's central directory declare `size` uncompressed bytes for member `name`
    (the data stays what it is: a small file claiming a huge member)."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02" + bytes(20))  # never matches: find the entry by its name
    at = data.find(b"PK\x01\x02")
    while at != -1:
        n = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + n] == name.encode():
            struct.pack_into("<I", data, at + 24, size)
            path.write_bytes(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{name} not in the central directory")


def test_small_file_declaring_a_3_gib_member_is_refused_before_reading(model_file):
    path, _ = model_file
    members = members_of(path)
    huge = 3 << 30
    write(path, members, manifest_edit=lambda m: m["members"]["arrays/0.npy"].update(size=huge))
    _patch_declared_size(path, "arrays/0.npy", huge)
    assert path.stat().st_size < 10_000
    message = load_error(path)
    assert message.startswith(f"{path}: arrays/0.npy: declares {huge} bytes, more than this file "
                              "may expand to when loaded")
    assert "TRACEJIT_MAX_LOAD_BYTES" in message


def test_zip_bomb_is_bounded_and_the_bound_can_be_raised(tmp_path, monkeypatch):
    path = tmp_path / "bomb.tjc"
    tj.save({"zeros": np.zeros(4 << 20, np.uint8)}, path)  # 4 MiB compresses to ~4 KiB
    assert path.stat().st_size < 64 << 10
    monkeypatch.setenv("TRACEJIT_MAX_LOAD_BYTES", str(1 << 20))
    assert "more than this file may expand to when loaded" in load_error(path)
    monkeypatch.setenv("TRACEJIT_MAX_LOAD_BYTES", str(8 << 20))
    np.testing.assert_array_equal(tj.load(path)["zeros"], np.zeros(4 << 20, np.uint8))
    monkeypatch.setenv("TRACEJIT_MAX_LOAD_BYTES", "lots")
    with pytest.raises(ValueError, match="TRACEJIT_MAX_LOAD_BYTES='lots' is not a number"):
        tj.load(path)


@pytest.mark.parametrize("kind", ["graph", "checkpoint"])
def test_npy_header_declaring_more_than_its_data_allocates_nothing(tmp_path, kind, model_file):
    path, _ = model_file
    if kind == "checkpoint":
        path = tmp_path / "ckpt.tjc"
        tj.save({"w": T(4, 3)}, path)
    members = members_of(path)
    members["arrays/0.npy"] = npy(header="{'descr': '<f4', 'fortran_order': False, "
                                         "'shape': (1000000, 1000000), }", data=bytes(48))
    write(path, members)
    message = load_error(path)
    assert message == (f"{path}: arrays/0.npy: its npy header declares float32[1000000, 1000000] "
                       "(4000000000000 bytes of data), but 48 bytes follow the header")


@pytest.mark.parametrize("header, problem", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }",
     "has an invalid npy shape (-3, 4)"),
    ("{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }",
     "holds complex128, not a tracejit dtype"),
    ("{'descr': '<U3', 'fortran_order': False, 'shape': (3,), }",
     "holds <U3, not a tracejit dtype"),
    ("{'descr': '<M8[s]', 'fortran_order': False, 'shape': (3,), }",
     "holds datetime64[s], not a tracejit dtype"),
    ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }",
     "is not a plain npy array (its dtype [('a', '<f4')] needs pickle)"),
    ("{'descr': '<f4', 'shape': (3,), }", "is not a plain npy array (ValueError"),
    ("not a dict", "is not a plain npy array (ValueError"),
])
def test_npy_headers_numpy_accepts_but_tracejit_does_not(model_file, header, problem):
    path, _ = model_file
    members = members_of(path)
    members["arrays/0.npy"] = npy(header=header, data=bytes(48))
    write(path, members)
    assert load_error(path).startswith(f"{path}: arrays/0.npy: {problem}")


def test_other_byte_order_and_odd_bools_load_as_numpy_reads_them(tmp_path):
    path = tmp_path / "ckpt.tjc"
    tj.save({"w": T(2, 3), "b": tj.tensor([True, False])}, path)
    members = members_of(path)
    want = np.arange(6, dtype=np.float32).reshape(2, 3)
    members["arrays/0.npy"] = npy(want.astype(">f4"))
    members["arrays/1.npy"] = npy(header="{'descr': '|b1', 'fortran_order': False, "
                                         "'shape': (2,), }", data=b"\x02\x00")
    members["arrays/2.npy"] = npy(np.asfortranarray(want))
    write(path, members, manifest_edit=lambda m: m["arrays"].update({"2": "arrays/2.npy"}))
    state = tj.load(path)
    assert state["w"].dtype == tj.float32
    np.testing.assert_array_equal(state["w"].numpy(), want)
    np.testing.assert_array_equal(state["b"].numpy(), np.array([True, False]))
    assert state["b"].numpy().view(np.uint8).tolist() == [1, 0]


# --- the manifest: every field, every wrong JSON type -------------------------------------------
TOP_FIELDS = ["format", "version", "name", "kind", "pipeline", "parameters", "numbers", "state",
              "arrays", "specializations", "members"]
ENTRY_FIELDS = ["graph", "signature", "inputs", "outputs", "n_user", "mutated", "sources",
                "attributes"]


def _loads_or_graph_file_error(path) -> None:
    try:
        within(30, lambda: tj.load(path, backend="eager"))
    except tj.GraphFileError as e:
        assert str(e).startswith(f"{path}: "), e


@pytest.mark.parametrize("field", TOP_FIELDS + [f"entry.{f}" for f in ENTRY_FIELDS])
def test_every_manifest_field_of_every_wrong_type(tmp_path, fn_file, field):
    members = members_of(fn_file)
    for k, value in enumerate([*BAD_VALUES, "delete"]):
        def edit(m, value=value):
            target, name = (m["specializations"][0], field[6:]) if field.startswith("entry.") \
                else (m, field)
            if value == "delete":
                del target[name]
            else:
                target[name] = value

        path = tmp_path / f"{field}-{k}.tjg"
        write(path, members, manifest_edit=edit)
        _loads_or_graph_file_error(path)


@pytest.mark.parametrize("edit, problem", [
    (lambda m: m["specializations"][0].update(n_user=10**30), "graphs/0.ir: takes 2 inputs"),
    (lambda m: m["specializations"][0].update(mutated=[10**30]), "does not match graphs/0.ir"),
    (lambda m: m["specializations"][0].update(mutated=[0, 0]), "does not match graphs/0.ir"),
    (lambda m: m["specializations"][0].update(sources=[-1, None]), "does not match"),
    (lambda m: m.update(version=10**30), "format version 1000000000000000000000000000000 is "
                                         "newer"),
    (lambda m: m.update(pipeline="dce,rm_rf"), "manifest.json: cannot be loaded (ValueError: "
                                               "unknown pass 'rm_rf'"),
    (lambda m: m["specializations"][0].update(
        inputs={"dict": [["x"], "y"], "items": ["tensor", "tensor"]}), "bad structure"),
    (lambda m: m["specializations"][0].update(inputs={"namedtuple": "P", "fields": ["if", "y"],
                                                      "items": ["tensor", "tensor"]}),
     "bad structure"),
    (lambda m: m["specializations"][0].update(outputs={"tuple": ["tensor", {"float": "1p9999"}]}),
     "bad structure"),
    (lambda m: m["specializations"][0].update(attributes=["w"]), "does not match graphs/0.ir"),
    (lambda m: m.update(parameters=[["x", "NOT_A_KIND", False]]), "has bad parameters"),
    (lambda m: m.update(parameters=[["x y", "POSITIONAL_ONLY", False]]), "has bad parameters"),
    (lambda m: m.update(parameters=[["", "POSITIONAL_ONLY", False]]), "has bad parameters"),
    (lambda m: m.update(parameters=[["y", "POSITIONAL_ONLY", True], ["x", "POSITIONAL_ONLY",
                                                                    False]]),
     "has bad parameters (non-default argument follows default argument)"),
])
def test_manifest_values_of_the_right_type_but_wrong(tmp_path, fn_file, edit, problem):
    write(fn_file, members_of(fn_file), manifest_edit=edit)
    assert problem in load_error(fn_file, backend="eager")


def test_long_integer_and_deep_nesting_in_the_manifest(tmp_path, fn_file):
    members = members_of(fn_file)
    for k, text in enumerate([
            '{"format": "tracejit-graph", "version": 1' + "0" * 5000 + "}",
            '{"format": "tracejit-graph", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
            "\xff\xfe not utf-8".encode("latin1").decode("latin1"),
    ]):
        path = tmp_path / f"{k}.tjg"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(MANIFEST, text.encode("latin1"))
            for name, data in members.items():
                if name != MANIFEST:
                    zf.writestr(name, data)
        assert load_error(path).startswith(f"{path}: manifest.json: is not valid JSON (")
    deep = {"tuple": []}
    node = deep
    for _ in range(200):
        node["tuple"].append({"tuple": []})
        node = node["tuple"][0]
    write(fn_file, members, manifest_edit=lambda m: m["specializations"][0].update(inputs=deep))
    assert "nested too deeply" in load_error(fn_file)


def test_deeply_nested_checkpoint_object(tmp_path):
    path = tmp_path / "ckpt.tjc"
    tj.save({"a": 1}, path)
    members = members_of(path)
    for k, text in enumerate(["[" * 100_000 + "]" * 100_000, '{"list": ' * 500 + "1" + "}" * 500,
                              '{"tensor": "0", "parameter": true, "x": 1}', '{"float": "1p99999"}',
                              '{"dtype": "complex64"}', '{"dict": [[[1], 2]]}', '{"tensor": "9"}']):
        members["object.json"] = text.encode()
        write(path, members)
        message = load_error(path)
        assert message.startswith(f"{path}: object.json: "), (k, message)


@pytest.mark.parametrize("missing", ["manifest.json", "graphs/0.ir", "arrays/0.npy"])
def test_missing_members(model_file, missing):
    path, _ = model_file
    members = members_of(path)
    manifest = members[MANIFEST]
    del members[missing]
    if missing == MANIFEST:
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        write(path, {**members, MANIFEST: manifest}, fix=False)
    assert load_error(path) == f"{path}: {missing}: missing from the archive"


def test_constant_whose_bytes_do_not_match_its_type(tmp_path):
    weights = tj.tensor(np.arange(100, dtype=np.float32))

    def f(x):
        return x + weights

    traced = tj.trace(f, T(100))
    path = tmp_path / "c.tjg"
    tj.save(traced, path)
    members = members_of(path)
    (member,) = [n for n in members if n.startswith("arrays/")]
    members[member] = npy(np.zeros(101, np.float32))
    write(path, members)
    assert f"{path}: graphs/0.ir: invalid IR:" in load_error(path)
    members[member] = npy(np.zeros(100, np.float64))
    write(path, members)
    assert f"{path}: graphs/0.ir: invalid IR:" in load_error(path)


# --- write-backs and hand-backs are checked against their inputs at load time ------------------
def test_write_back_to_an_input_of_another_type(fn_file):
    assert tj.load(fn_file, backend="eager") is not None
    members = members_of(fn_file)
    write(fn_file, members, manifest_edit=lambda m: m["specializations"][0].update(mutated=[1]))
    assert load_error(fn_file, backend="eager") == (
        f"{fn_file}: graphs/0.ir: output 2 (float32[3,4]) is written back to input %y "
        "(float32[2]): a value written back must have the type of the input it is written to")


def test_write_back_of_another_dtype_is_not_cast_silently(tmp_path, fn_file):
    members = members_of(fn_file)
    text = members["graphs/0.ir"].decode()
    # the graph returns y * 2 (float32[2]) as its write-back for x instead of the updated x
    lines = text.splitlines()
    ret = next(i for i, line in enumerate(lines) if line.strip().startswith("return("))
    args = lines[ret].strip()[len("return("):-1].split(", ")
    lines[ret] = lines[ret].replace(f"return({', '.join(args)})",
                                    f"return({args[0]}, {args[1]}, {args[1]})")
    lines[0] = lines[0].replace("(float32[3,4], float32[2], float32[3,4])",
                                "(float32[3,4], float32[2], float32[2])")
    members["graphs/0.ir"] = "\n".join(lines).encode()
    write(fn_file, members)
    message = load_error(fn_file, backend="eager")
    assert "is written back to input %x (float32[3,4])" in message


def test_hand_back_of_another_type(fn_file):
    members = members_of(fn_file)
    write(fn_file, members,
          manifest_edit=lambda m: m["specializations"][0].update(sources=[1, None]))
    assert load_error(fn_file, backend="eager") == (
        f"{fn_file}: graphs/0.ir: output 0 (float32[3,4]) is handed back as input %y "
        "(float32[2]), which has another type")


def test_the_unmodified_files_still_load_and_match_torch(model_file, fn_file):
    import torch

    path, x = model_file
    loaded = tj.load(path, backend="eager")
    got = loaded(x).numpy()
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).train()
    state = {k: torch.from_numpy(np.array(t.numpy())) for k, t in
             zip(loaded.specs[0].state_names, loaded.state)}
    torch_model.load_state_dict(state)
    want = torch_model(torch.from_numpy(x.numpy())).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    fn = tj.load(fn_file)
    a, b = T(3, 4), T(2)
    ta, tb = torch.from_numpy(a.numpy().copy()), torch.from_numpy(b.numpy())
    out_a, out_b = fn(a, b)
    ta.add_(tb.sum())
    assert out_a is a
    np.testing.assert_allclose(a.numpy(), ta.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out_b.numpy(), (tb * 2).numpy())


# --- the commands: one error line and a status, never a traceback ------------------------------
def _cli(capsys, argv, main=None) -> tuple[int, str]:
    from tracejit import cli

    status = within(60, main or cli.main, argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return status, err


def test_run_command_user_errors_are_one_line(tmp_path, capsys, fn_file):
    x16, x32, y = tmp_path / "x16.npy", tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x16, np.zeros((3, 4), np.float16))
    np.save(x32, np.zeros((3, 4), np.float32))
    np.save(y, np.zeros(2, np.float32))
    bad = tmp_path / "bad.npy"
    bad.write_bytes(npy(header="{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (1000000000000,), }"))
    cases = [
        ([str(fn_file), "-i", f"x={x16}", "-i", f"y={y}"], 1, "has no graph for (x: float16[3,4]"),
        ([str(fn_file), "-i", f"x={x32}", "-i", f"y={y}", "-o", str(tmp_path / "no" / "o.npz")],
         1, f"cannot write {tmp_path / 'no' / 'o.npz'}: No such file or directory"),
        ([str(fn_file), "-i", "x=/dev/zero", "-i", f"y={y}"], 2,
         "cannot use /dev/zero as input 'x': is a character device, not a regular file"),
        ([str(fn_file), "-i", f"x={bad}", "-i", f"y={y}"], 2, "its npy header declares"),
        ([str(fn_file), "-i", f"x={tmp_path / 'none.npy'}"], 2, "no such file"),
        ([str(fn_file), "-i", "x"], 2, "--input takes NAME=FILE.npy"),
        (["/dev/zero"], 1, "/dev/zero: is a character device"),
    ]
    for argv, status, message in cases:
        got, err = _cli(capsys, ["run", *argv])
        assert (got, err.count("\n")) == (status, 1 + message.count("\n") +
                                          err.count("\n  ")), err
        assert err.startswith("tracejit run: error: ") and message in err, err
    got, _ = _cli(capsys, ["run", str(fn_file), "-i", f"x={x32}", "-i", f"y={y}", "-o",
                           str(tmp_path / "out")])
    assert got == 0 and (tmp_path / "out.npz").exists()


def test_run_and_inspect_of_a_deeply_nested_manifest(tmp_path, capsys, fn_file):
    members = members_of(fn_file)
    with zipfile.ZipFile(fn_file, "w") as zf:
        zf.writestr(MANIFEST, '{"format": "tracejit-graph", "x": ' + "[" * 100_000)
        for name, data in members.items():
            if name != MANIFEST:
                zf.writestr(name, data)
    for command in ("run", "inspect"):
        status, err = _cli(capsys, [command, str(fn_file)])
        assert status == 1
        assert err.startswith(f"tracejit {command}: error: {fn_file}: manifest.json: is not "
                              "valid JSON")


def test_opt_command_user_errors(tmp_path, capsys, fn_file):
    from tracejit.opt import main

    deep = tmp_path / "deep.ir"
    deep.write_text("graph @f(%x: int64[]) -> (int64[]) {\n  %0 = constant() {value = dense<"
                    "int64[]: " + "[" * 50_000 + "1" + "]" * 50_000 + ">} : int64[]\n"
                    "  return(%0)\n}\n")
    long_int = tmp_path / "long.ir"
    long_int.write_text("graph @f(%x: int64[]) -> (int64[]) {\n  %0 = constant() {value = "
                        "dense<int64[]: " + "9" * 5000 + ">} : int64[]\n  return(%0)\n}\n")
    binary = tmp_path / "bin.ir"
    binary.write_bytes(b"\xff\xfe\x00")
    cases = [("/dev/zero", 2, "tracejit-opt: cannot read /dev/zero: is a character device"),
             (str(tmp_path), 2, f"tracejit-opt: cannot read {tmp_path}: is a directory"),
             (str(deep), 1, f"{deep}:"), (str(long_int), 1, f"{long_int}:"),
             (str(binary), 2, f"tracejit-opt: {binary} is not UTF-8 text")]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        cases.append((str(tmp_path / "fifo"), 2, "is a FIFO (named pipe), not a regular file"))
    for path, status, message in cases:
        got, err = _cli(capsys, [path], main)
        assert got == status and message in err, err
    write(fn_file, members_of(fn_file), manifest_edit=lambda m: m.update(state=[1]))
    got, err = _cli(capsys, [str(fn_file)], main)
    assert got == 1 and err == (f"tracejit-opt: error: {fn_file}: manifest.json: field 'state' "
                                "is not a list of strings\n")


def test_internal_errors_keep_their_traceback_and_ask_for_a_report(capsys, monkeypatch):
    from tracejit import cli, graph_tools

    def broken(argv):
        raise KeyError("a bug")

    monkeypatch.setattr(graph_tools, "run_command", broken)
    assert cli.main(["run", "x"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'a bug'" in err
    assert err.endswith("tracejit run: internal error: this is a bug in tracejit; please report "
                        "it with the command line and the files it read\n")


@pytest.mark.parametrize("field", TOP_FIELDS)
def test_inspect_and_run_of_every_manifest_field_wrong(tmp_path, capsys, fn_file, field):
    members = members_of(fn_file)
    for k, value in enumerate([None, 10**30, [[["deep"]]], "delete"]):
        path = tmp_path / f"{k}.tjg"

        def edit(m, value=value):
            if value == "delete":
                m.pop(field)
            else:
                m[field] = value

        write(path, members, manifest_edit=edit)
        for command in ("inspect", "run"):
            status, err = _cli(capsys, [command, str(path)])
            assert status in (0, 1), err
