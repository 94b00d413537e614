"""Graph files: save in one process, load in a fresh one without the model's source; every
damage case gives GraphFileError naming the file, member and problem; byte-level fuzzing of a
valid file never raises anything else."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracejit as tj
from tracejit.graphfile import MANIFEST

RNG = np.random.default_rng(0)


def T(*shape):
    return tj.tensor(RNG.standard_normal(shape).astype(np.float32))


def model_and_file(tmp_path):
    model = tj.nn.Sequential(tj.nn.Linear(4, 8), tj.nn.GELU(), tj.nn.Linear(8, 3)).eval()
    x = T(2, 4)
    traced = tj.trace(model, x)
    path = tmp_path / "model.tjg"
    tj.save(traced, path)
    return model, x, path


def members_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rewrite(path, members: dict[str, bytes], *, fix_checksums=True, manifest_edit=None):
    manifest = json.loads(members[MANIFEST])
    if fix_checksums:
        for name, data in members.items():
            if name in manifest["members"]:
                manifest["members"][name] = {"size": len(data),
                                             "sha256": hashlib.sha256(data).hexdigest()}
    if manifest_edit:
        manifest_edit(manifest)
    members = {**members, MANIFEST: json.dumps(manifest).encode()}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def load_error(path) -> str:
    with pytest.raises(tj.GraphFileError) as info:
        tj.load(path)
    return str(info.value)


def test_round_trip_in_process(tmp_path, backend="llvm"):
    model, x, path = model_and_file(tmp_path)
    loaded = tj.load(path, backend=backend)
    np.testing.assert_array_equal(loaded(x).numpy(), tj.trace(model, x)(x).numpy())


def test_scripted_function_with_control_flow_round_trips(tmp_path):
    import script_models as M
    fn = tj.script(M.count_loop, backend="eager")
    x = T(3)
    fn(x, 2)
    tj.save(fn, tmp_path / "f.tjg")
    loaded = tj.load(tmp_path / "f.tjg", backend="eager")
    for n in (0, 4, 9):  # the loop bound stays an input
        np.testing.assert_array_equal(loaded(x, n).numpy(), M.count_loop(x, n).numpy())


SUBPROCESS_MODEL = '''
import tracejit as tj

class Net(tj.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tj.nn.Linear(4, 4)

    def forward(self, x):
        y = self.fc(x)
        if y.sum() > 0:
            y = y * 2
        return y.relu()

class Plain(tj.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tj.nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).tanh()

def steps(x, n: int):
    for i in range(n):
        x = x * 0.9 + 1
    return x
'''


def test_load_in_a_fresh_process_without_the_source(tmp_path):
    source = tmp_path / "defs" / "user_defs.py"
    source.parent.mkdir()
    source.write_text(SUBPROCESS_MODEL)
    sys.path.insert(0, str(source.parent))
    try:
        import user_defs
        net = user_defs.Net().eval()
        x = T(3, 4)
        scripted_net = tj.script(net, backend="eager")
        traced_net = tj.trace(user_defs.Plain().eval(), x, backend="eager")
        stepper = tj.script(user_defs.steps, backend="eager")
        want = [scripted_net(x).numpy(), traced_net(x).numpy(), stepper(x, 5).numpy()]
        for name, compiled in (("s", scripted_net), ("t", traced_net), ("f", stepper)):
            tj.save(compiled, tmp_path / f"{name}.tjg")
    finally:
        sys.path.remove(str(source.parent))
        sys.modules.pop("user_defs", None)
    source.unlink()  # the defining module is gone
    np.save(tmp_path / "x.npy", x.numpy())
    script = textwrap.dedent(f"""
        import sys, numpy as np, tracejit as tj
        assert "user_defs" not in sys.modules
        try:
            import user_defs
            raise SystemExit("the defining module must not be importable")
        except ImportError:
            pass
        x = tj.tensor(np.load({str(tmp_path / "x.npy")!r}))
        outs = [tj.load({str(tmp_path / "s.tjg")!r})(x), tj.load({str(tmp_path / "t.tjg")!r})(x),
                tj.load({str(tmp_path / "f.tjg")!r})(x, 5)]
        np.savez({str(tmp_path / "out.npz")!r}, *[o.numpy() for o in outs])
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"TRACEJIT_BACKEND": "eager",
                                                      "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    got = np.load(tmp_path / "out.npz")
    for k, expected in enumerate(want):
        np.testing.assert_array_equal(got[f"arr_{k}"], expected)


def test_wrong_inputs_say_expected_and_actual(tmp_path):
    _, _, path = model_and_file(tmp_path)
    loaded = tj.load(path)
    with pytest.raises(TypeError) as info:
        loaded(T(2, 5))
    assert str(info.value) == (
        f"Sequential() loaded from {path} has no graph for (input: float32[2,5]); it holds:\n"
        "  (input: float32[2,4]) [eval] -> float32[2,3]")


def test_tracejit_opt_reads_a_graph_file(tmp_path, capsys):
    from tracejit.opt import main
    from tracejit.passes import run_pipeline
    _, _, path = model_and_file(tmp_path)
    assert main([str(path), "-p", "simplify,dce"]) == 0
    (graph,) = tj.load(path, backend="eager", pipeline="").graphs
    assert capsys.readouterr().out == str(run_pipeline(graph, "simplify,dce"))


# --- damage: each case names the file, the member and the problem ----------------------------
def test_truncated_archive(tmp_path):
    _, _, path = model_and_file(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    assert load_error(path).startswith(f"{path}: not a graph file, or truncated (")


def test_not_an_archive(tmp_path):
    path = tmp_path / "junk.tjg"
    path.write_bytes(b"\x00" * 100)
    assert load_error(path) == f"{path}: not a graph file, or truncated (File is not a zip file)"


def test_missing_member(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    del members["graphs/0.ir"]
    rewrite(path, members, fix_checksums=False)
    assert load_error(path) == f"{path}: graphs/0.ir: missing from the archive"


def test_missing_manifest(tmp_path):
    path = tmp_path / "m.tjg"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("graphs/0.ir", "x")
    assert load_error(path) == f"{path}: manifest.json: missing from the archive"


def test_checksum_mismatch(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    data = bytearray(members["arrays/0.npy"])
    data[-1] ^= 0xFF
    members["arrays/0.npy"] = bytes(data)
    rewrite(path, members, fix_checksums=False)
    assert load_error(path) == f"{path}: arrays/0.npy: checksum mismatch: the member is damaged"


def test_ir_parse_error(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    members["graphs/0.ir"] = members["graphs/0.ir"].replace(b"linear(", b"linear((", 1)
    rewrite(path, members)
    message = load_error(path)
    assert message.startswith(f"{path}: graphs/0.ir: invalid IR:\ngraphs/0.ir:")
    assert "error: expected" in message


def test_ir_verifier_error(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    members["graphs/0.ir"] = members["graphs/0.ir"].replace(b": float32[2,8]", b": float32[2,9]",
                                                           1)
    rewrite(path, members)
    message = load_error(path)
    assert message.startswith(f"{path}: graphs/0.ir: invalid IR:\n")
    assert "differ from what linear gives" in message


def test_weight_shape_disagrees_with_the_ir(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((8, 5), np.float32))
    members["arrays/0.npy"] = buffer.getvalue()
    rewrite(path, members)
    assert load_error(path) == (f"{path}: graphs/0.ir: input %0.weight is float32[8,4]; the "
                                "array state/0.weight is float32[8,5]")


def test_weight_dtype_disagrees_with_the_ir(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((8, 4), np.float64))
    members["arrays/0.npy"] = buffer.getvalue()
    rewrite(path, members)
    assert load_error(path) == (f"{path}: graphs/0.ir: input %0.weight is float32[8,4]; the "
                                "array state/0.weight is float64[8,4]")


def test_pickled_array_is_refused(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    members["arrays/0.npy"] = buffer.getvalue()
    rewrite(path, members)
    assert load_error(path).startswith(f"{path}: arrays/0.npy: is not a plain npy array (")


def test_unknown_format_version(tmp_path):
    _, _, path = model_and_file(tmp_path)
    rewrite(path, members_of(path), manifest_edit=lambda m: m.update(version=3))
    assert load_error(path) == (f"{path}: manifest.json: format version 3 is newer than this "
                                f"tracejit ({tj.__version__}) reads (up to 2); upgrade tracejit")


def test_member_far_larger_than_the_manifest_says(tmp_path):
    _, _, path = model_and_file(tmp_path)
    members = members_of(path)
    members["graphs/0.ir"] += b"//" + b"x" * 10_000_000
    manifest = json.loads(members[MANIFEST])
    size = manifest["members"]["graphs/0.ir"]["size"]
    rewrite(path, members, fix_checksums=False)
    assert load_error(path) == (f"{path}: graphs/0.ir: is {size + 10_000_002} bytes, the "
                                f"manifest says {size}")


def test_committed_version_1_file_still_loads():
    from pathlib import Path
    path = Path(__file__).parent / "data" / "mlp-v1.tjg"
    loaded = tj.load(path, backend="eager")
    x = tj.tensor(np.load(path.with_suffix(".input.npy")))
    np.testing.assert_array_equal(loaded(x).numpy(), np.load(path.with_suffix(".output.npy")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bytes_give_only_graph_file_errors(tmp_path, data):
    global _VALID
    if _VALID is None:
        model = tj.nn.Sequential(tj.nn.Linear(3, 3), tj.nn.ReLU()).eval()
        traced = tj.trace(model, T(2, 3), backend="eager")
        tj.save(traced, tmp_path / "valid.tjg")
        _VALID = (tmp_path / "valid.tjg").read_bytes()
    raw = bytearray(_VALID)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "fuzzed.tjg"
    path.write_bytes(bytes(raw))
    try:
        tj.load(path, backend="eager")
    except tj.GraphFileError as e:
        assert str(e).startswith(str(path))


_VALID = None


def test_inspect_command(capsys):
    from pathlib import Path

    from tracejit.graph_tools import inspect_command
    path = Path(__file__).parent / "data" / "mlp-v1.tjg"
    assert inspect_command([str(path)]) == 0
    out = capsys.readouterr().out
    (graph,) = tj.load(path, backend="eager", pipeline="").graphs
    assert out.startswith(f"{path}: TracedModule Sequential, format version 1, written by "
                          "tracejit 0.1.0\n")
    assert "\n[0] (input: float32[3,4]) [eval] -> float32[3,2]\n" \
           "    4 ops: linear 2, return 1, tanh 1\n" in out
    assert out.endswith(str(graph) + "\n")


def test_run_command_writes_the_outputs(tmp_path, capsys):
    from pathlib import Path

    from tracejit.graph_tools import run_command
    path = Path(__file__).parent / "data" / "mlp-v1.tjg"
    out = tmp_path / "out.npz"
    assert run_command([str(path), "--backend", "eager", "--input",
                        f"input={path.with_suffix('.input.npy')}", "--output", str(out)]) == 0
    np.testing.assert_array_equal(np.load(out)["out"], np.load(path.with_suffix(".output.npy")))
    assert run_command([str(path), "--input", f"x={path.with_suffix('.input.npy')}"]) == 1
    assert "missing a required argument: 'input'" in capsys.readouterr().err
