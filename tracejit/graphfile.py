"""Graph files: `tracejit.save(compiled, path)` and `tracejit.load(path)`.

A graph file is a zip archive of plain data: `manifest.json`, the text IR of every specialisation
(`graphs/N.ir`) and every array (`arrays/N.npy`, read with `allow_pickle=False`). Loading runs
no code from the file: it opens only regular files (never blocking on a FIFO or device), bounds
what the file may expand to (tracejit.untrusted), parses JSON, the IR grammar and npy headers,
checks every member's size and SHA-256 against the manifest, verifies each graph, checks each
array against the types the IR declares and each write-back against its input. Anything wrong
raises `GraphFileError` naming the file, the member and the problem. The format is documented
in docs/graph-file.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import os
import tempfile
import zipfile
import zlib
from collections import namedtuple
from typing import Any

import numpy as np

from tracejit import pytree
from tracejit.ir.graph import Graph
from tracejit.ir.parser import ParseError, parse
from tracejit.ir.printer import print_graph
from tracejit.ir.types import DType, TensorType
from tracejit.ir.verifier import VerifyError, verify
from tracejit.tensor import Tensor
from tracejit.tracer import SIZE_GUARD, runtime_error, size_guard_error
from tracejit.untrusted import (
    UntrustedFileError,
    limit_hint,
    load_limit,
    open_regular,
    read_npy,
)

FORMAT = "tracejit-graph"
VERSION = 2  # the newest format version this tracejit reads; it reads all older ones
GRAPH_VERSION = 1  # graph files need nothing newer (so older tracejits read them); checkpoints 2
MANIFEST = "manifest.json"
MAX_MANIFEST = 1 << 22  # bytes
_DTYPES = {d.np: d for d in DType}


class GraphFileError(Exception):
    """A graph file that cannot be loaded: the message names the file, member and problem."""

    def __init__(self, path, member: str | None, problem: str):
        self.path, self.member, self.problem = str(path), member, problem
        where = f"{path}" + (f": {member}" if member else "")
        super().__init__(f"{where}: {problem}")


# --- saving -------------------------------------------------------------------------------------
def save(obj, f, pickle_module=None, pickle_protocol=None,
         _use_new_zipfile_serialization: bool = True, _disable_byteorder_record: bool = False
         ) -> None:
    """torch.save: what trace or script returned becomes a graph file; a state dict or other
    nested data (tensors, numpy arrays, numbers, strings) a checkpoint. `f` is a path or a
    binary file object. torch's pickle options are accepted and unused."""
    from tracejit.nn.module import Module
    from tracejit.traced import _Traced

    if hasattr(obj, "_savable"):  # tracejit.compile's: its one graph, or why it has none
        obj = obj._savable()
    if isinstance(obj, _Traced):
        return _save_graphs(obj, f)
    if isinstance(obj, Module):
        raise TypeError(
            f"tracejit.save cannot save the module object {type(obj).__name__} (torch pickles "
            "it, code included, and tracejit files hold no code): save model.state_dict() and "
            "load it into a new model with model.load_state_dict(tracejit.load(f)), or save "
            "tracejit.trace(model, example) for a compiled graph file")
    from tracejit.checkpoint_file import manifest_and_members

    _write_atomic(f, manifest_and_members(obj, _version()))


def _save_graphs(compiled, path) -> None:
    """Write every specialisation `compiled` (what trace or script returned) holds to `path`."""
    specs = list(compiled._cache.values())
    if not specs:
        raise ValueError("nothing to save: call the compiled function once first")
    members: dict[str, bytes] = {}
    arrays: dict[str, str] = {}  # array name -> member

    def add_array(name: str, data: np.ndarray) -> None:
        member = f"arrays/{len(arrays)}.npy"
        buffer = io.BytesIO()
        # (not np.ascontiguousarray: it makes a 0-d buffer such as num_batches_tracked 1-d)
        np.lib.format.write_array(buffer, np.asarray(data, order="C"), allow_pickle=False)
        members[member] = buffer.getvalue()
        arrays[name] = member

    state_names, state = compiled._state()
    frozen = compiled._freeze
    if not frozen:  # graphs captured before a .to(dtype) read state the file will not hold
        types = [t._type for t in state]
        specs = [s for s in specs if [v.type for v in s.graph.inputs[s.n_user:]] == types]
        if not specs:
            raise ValueError("nothing to save: no graph was captured for the module's current "
                             "parameter dtypes; call it once first")
    for name, tensor in zip(state_names, state):
        if not frozen:
            add_array(f"state/{name}", tensor._data)
    entries = []
    for k, spec in enumerate(specs):
        member = f"graphs/{k}.ir"
        members[member] = print_graph(spec.graph).encode()
        for name, data in spec.graph.constants.items():
            add_array(f"{k}/{name}", data)
        entries.append({
            "graph": member,
            "signature": spec.signature,
            "inputs": _structure_to_json(spec.in_structure),
            "outputs": _structure_to_json(spec.out_structure),
            "n_user": spec.n_user,
            "mutated": list(spec.mutated),
            "sources": list(spec.sources),
            # module attributes the scripted code assigns: their values follow the result
            "attributes": [name for _, name in getattr(spec, "writes", None) or ()],
            **({"aliases": _aliases_to_json(spec.aliases)} if any(spec.aliases) else {}),
        })
    signature = compiled._signature
    manifest = {
        "format": FORMAT,
        "version": GRAPH_VERSION,
        "tracejit": _version(),
        "name": compiled._name,
        "kind": type(compiled).__name__,
        "pipeline": compiled._pipeline,
        "parameters": None if signature is None else [
            [p.name, p.kind.name, p.default is not inspect.Parameter.empty]
            for p in signature.parameters.values()],
        "numbers": sorted(getattr(compiled, "_dynamic_numbers", ())),
        "state": [] if frozen else list(state_names),
        "arrays": arrays,
        "specializations": entries,
        "members": {m: {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                    for m, b in members.items()},
    }
    _write_atomic(path, [(MANIFEST, json.dumps(manifest, indent=1).encode()),
                         *members.items()])


def _write_atomic(path, items) -> None:
    if hasattr(path, "write"):  # a binary file object (io.BytesIO, an open file)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in items:
                zf.writestr(name, data)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tracejit-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in items:
                zf.writestr(name, data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _version() -> str:
    from tracejit import __version__
    return __version__


def _structure_to_json(node):
    kind = node[0]
    if kind == "tensor":
        return "tensor"
    if kind == "static":
        value = node[2]
        if not isinstance(value, (bool, int, str, type(None))) or isinstance(value, bytes):
            raise TypeError(f"cannot save a static argument of type {type(value).__name__}: a "
                            "graph file holds numbers, strings, None and tensors")
        return {"static": value}
    if kind == "float":
        return {"float": node[2]}
    if kind == "namedtuple":
        return {"namedtuple": node[1].__name__, "fields": list(node[1]._fields),
                "items": [_structure_to_json(c) for c in node[2]]}
    if kind == "dict":
        keys = list(node[1])
        if not all(isinstance(k, str) for k in keys):
            raise TypeError("cannot save a dict with non-string keys in a graph file")
        return {"dict": keys, "items": [_structure_to_json(c) for c in node[2]]}
    return {kind: [_structure_to_json(c) for c in node[1]]}


# --- loading ------------------------------------------------------------------------------------
def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None,
         mmap: bool | None = None, backend: str | None = None, pipeline: str | None = None,
         **pickle_load_args) -> LoadedGraph | Any:
    """torch.load of a tracejit file (a path or a binary file object): a graph file gives the
    compiled callable, run on `backend` (default $TRACEJIT_BACKEND, else "llvm") after
    `pipeline` (default: the one it was saved with); a checkpoint gives the saved object, its
    tensors as Tensors. torch's `map_location`, `weights_only` and `mmap` are accepted and
    unused: every tensor is on the CPU and nothing a tracejit file holds can run code."""
    from tracejit.passes import parse_pipeline
    from tracejit.traced import default_backend

    graphs_only = backend is not None or pipeline is not None
    backend = default_backend(backend)  # the caller's arguments: their errors are the caller's
    if pipeline is not None:
        parse_pipeline(pipeline)
    return _Reader(f).read(backend, pipeline, graphs_only)


_TORCH_HINT = (
    "tracejit never unpickles (unpickling runs code from the file). Convert it once with "
    "torch: `tracejit.save({k: v.numpy() for k, v in torch.load(p).items()}, out)`, then "
    "`model.load_state_dict(tracejit.load(out))`")


class _Reader:
    def __init__(self, f):
        self.file = f if hasattr(f, "read") else None
        self.path = (str(getattr(f, "name", "<file object>")) if self.file is not None
                     else os.fspath(f))
        self.budget = 0  # bytes the members read so far may still expand to
        self.opened = None  # the file object opened here (closed by `read`)

    def fail(self, member, problem) -> GraphFileError:
        return GraphFileError(self.path, member, problem)

    def open(self):
        """The file to unzip (a regular file opened without blocking, or the file object
        given); sets the load budget from its size."""
        if self.file is None:
            try:
                self.opened, size = open_regular(self.path)
            except FileNotFoundError:
                raise self.fail(None, "no such file") from None
            except UntrustedFileError as e:
                raise self.fail(None, f"{e.problem}: graph files and checkpoints are read "
                                      "only from regular files") from None
            source = self.opened
        elif hasattr(self.file, "seekable") and self.file.seekable():
            source = self.file
            size = source.seek(0, os.SEEK_END)
            source.seek(0)
        else:  # zip needs to seek (a pipe or socket cannot): read it, bounded
            limit = load_limit(None)
            data = self.file.read(limit + 1)
            if not isinstance(data, bytes) or len(data) > limit:
                raise self.fail(None, f"holds more than {limit} bytes, or is not a binary "
                                      f"file: {limit_hint()}")
            source = self.file = io.BytesIO(data)
            size = len(data)
        self.budget = load_limit(size)
        if size > self.budget:
            raise self.fail(None, f"is {size} bytes, more than tracejit loads ({self.budget}): "
                                  + limit_hint())
        return source

    def read(self, backend, pipeline, graphs_only: bool = True):
        source = self.open()
        try:
            return self.read_zip(source, backend, pipeline, graphs_only)
        finally:
            if self.opened is not None:
                self.opened.close()

    def read_zip(self, source, backend, pipeline, graphs_only: bool):
        try:
            zf = zipfile.ZipFile(source)
        except Exception as e:  # zipfile raises many kinds on a damaged directory
            if self.starts_like_a_pickle(source):
                raise self.fail(None, f"is a legacy PyTorch file (a pickle): {_TORCH_HINT}") \
                    from None
            raise self.fail(None, f"not a graph file, or truncated ({e})"[:400]) from None
        with zf:
            self.zf = zf
            names = zf.namelist()
            if MANIFEST not in names and any(n.endswith("data.pkl") for n in names):
                raise self.fail(None, f"is a PyTorch checkpoint (torch.save's zip of a pickle): "
                                      f"{_TORCH_HINT}")
            manifest = self.manifest()
            if manifest.get("kind") == "checkpoint":
                if graphs_only:
                    raise self.fail(None, "is a checkpoint (tracejit.save of a state dict or "
                                          "other data), not compiled graphs: tracejit.load(f) "
                                          "without backend= or pipeline= returns its object")
                from tracejit.checkpoint_file import read

                return self.guarded(MANIFEST, read, self, manifest)
            # (build checks what it reads; the guard catches what a check may have missed)
            return self.guarded(MANIFEST, self.build, manifest, backend, pipeline)

    def guarded(self, member, fn, *args):
        """`fn(*args)`, with any error a damaged file can cause below the manifest checks (the
        parser, verifier, passes, JSON nesting) turned into a GraphFileError naming `member`."""
        try:
            return fn(*args)
        except GraphFileError:
            raise
        except (ParseError, VerifyError) as e:
            raise self.fail(member, f"invalid IR:\n{e}") from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
                RecursionError, MemoryError, ArithmeticError, AssertionError, EOFError,
                zipfile.BadZipFile, zlib.error, NotImplementedError) as e:
            raise self.fail(member, f"cannot be loaded ({type(e).__name__}: {e})"[:600]) \
                from None

    def starts_like_a_pickle(self, source) -> bool:
        """Whether the file starts with a pickle's PROTO opcode (torch's legacy format)."""
        try:
            source.seek(0)
            head = source.read(2)
        except (OSError, ValueError, AttributeError):
            return False
        return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5

    def member(self, name: str, size: int) -> bytes:
        try:
            info = self.zf.getinfo(name)
        except KeyError:
            raise self.fail(name, "missing from the archive") from None
        if info.file_size != size:
            raise self.fail(name, f"is {info.file_size} bytes, the manifest says {size}")
        if size > self.budget:
            raise self.fail(name, f"declares {size} bytes, more than this file may expand to "
                                  f"when loaded ({self.budget} bytes left): a damaged or hostile "
                                  f"file? {limit_hint()}")
        self.budget -= size
        try:
            with self.zf.open(info) as fh:
                data = fh.read(size + 1)  # bounded: never more than the manifest declares
        except Exception as e:  # zlib, CRC and header errors of a damaged archive
            raise self.fail(name, f"cannot be read ({type(e).__name__}: {e})"[:400]) from None
        if len(data) != size:
            raise self.fail(name, f"is {len(data)} bytes, the manifest says {size}")
        return data

    def manifest(self) -> dict:
        try:
            info = self.zf.getinfo(MANIFEST)
        except KeyError:
            raise self.fail(MANIFEST, "missing from the archive") from None
        if info.file_size > MAX_MANIFEST:
            raise self.fail(MANIFEST, f"is {info.file_size} bytes; a manifest is at most "
                                      f"{MAX_MANIFEST}")
        data = self.member(MANIFEST, info.file_size)
        try:
            manifest = json.loads(data.decode())
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self.fail(MANIFEST, f"is not valid JSON ({e})"[:400]) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise self.fail(MANIFEST, f"is not a {FORMAT} manifest")
        version = manifest.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail(MANIFEST, f"has an invalid format version {version!r}"[:200])
        if version > VERSION:
            raise self.fail(MANIFEST, f"format version {version} is newer than this tracejit "
                                      f"({_version()}) reads (up to {VERSION}); upgrade tracejit")
        return manifest

    def checked(self, manifest: dict, name: str) -> bytes:
        entry = _field(self, manifest, "members", dict).get(name)
        if not isinstance(entry, dict) or not _is_size(entry.get("size")) or not isinstance(
                entry.get("sha256"), str):
            raise self.fail(name, "has no size and sha256 in the manifest")
        data = self.member(name, entry["size"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise self.fail(name, "checksum mismatch: the member is damaged")
        return data

    def array(self, manifest: dict, name: str) -> np.ndarray:
        member = _field(self, manifest, "arrays", dict).get(name)
        if not isinstance(member, str):
            raise self.fail(MANIFEST, f"names no member for the array {name!r}"[:300])
        return self.npy(member, self.checked(manifest, member), _DTYPES)

    def npy(self, member: str, data: bytes, dtypes=None) -> np.ndarray:
        """The read-only array of an npy member, built only once its header's declared size is
        the size of its data; `dtypes`: the ones allowed (None: any plain numpy dtype)."""
        try:
            return read_npy(data, dtypes)
        except UntrustedFileError as e:
            raise self.fail(member, e.problem) from None

    def build(self, manifest: dict, backend: str, pipeline) -> LoadedGraph:
        from tracejit.passes import parse_pipeline

        if pipeline is None:
            pipeline = _field(self, manifest, "pipeline", str)
            self.guarded(MANIFEST, parse_pipeline, pipeline)
        state_names = _strings(self, manifest, "state")
        # each load's own writable copy: a call writes mutated state back (train-mode BatchNorm's
        # running statistics), as the traced module does
        state = [self.array(manifest, f"state/{n}").copy() for n in state_names]
        entries = _field(self, manifest, "specializations", list)
        specs = [self.specialization(manifest, k, entry, state_names, state, pipeline, backend)
                 for k, entry in enumerate(entries)]
        parameters = self.parameters(manifest.get("parameters"))
        numbers = set(_strings(self, manifest, "numbers")) if "numbers" in manifest else set()
        name = manifest.get("name", "graph")
        if not isinstance(name, str):
            raise self.fail(MANIFEST, "field 'name' is not a string")
        return self.guarded(MANIFEST, LoadedGraph, self.path, name, specs,
                            [Tensor._wrap(a) for a in state], parameters, numbers, manifest)

    def specialization(self, manifest: dict, k: int, entry, state_names, state, pipeline,
                       backend):
        """The runnable specialisation `entry` (the k-th in the manifest) describes."""
        from tracejit.traced import specialize

        if not isinstance(entry, dict):
            raise self.fail(MANIFEST, f"specialization {k} is not an object")
        member = _field(self, entry, "graph", str)
        text = self.checked(manifest, member)
        prefix = f"{k}/"
        constants = {name[len(prefix):]: self.array(manifest, name)
                     for name in _field(self, manifest, "arrays", dict)
                     if name.startswith(prefix)}
        try:
            source = text.decode()
        except UnicodeDecodeError as e:
            raise self.fail(member, f"is not UTF-8 text ({e})") from None
        graph = self.guarded(member, lambda: verify(parse(source, constants=constants,
                                                          source=member)))
        self.check_sizes(member, graph)
        n_user = _field(self, entry, "n_user", int)
        self.check_inputs(member, graph, n_user, state_names, state)
        try:
            inputs = _structure_from_json(_field(self, entry, "inputs", (dict, str)))
            outputs = _structure_from_json(_field(self, entry, "outputs", (dict, str)))
            counts = _count(inputs), _count(outputs)
        except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as e:
            raise self.fail(MANIFEST, f"specialization {k} has a bad structure ({e})"[:400]) \
                from None
        mutated = _field(self, entry, "mutated", list)
        sources = _field(self, entry, "sources", list)
        attributes = _strings(self, entry, "attributes") if "attributes" in entry else []
        aliases = self.aliases(entry, k) if "aliases" in entry else None
        signature = entry.get("signature", "")
        if not isinstance(signature, str):
            raise self.fail(MANIFEST, f"specialization {k}: field 'signature' is not a string")
        n_out = len(graph.outputs) - len(mutated)
        if counts != (n_user, n_out) or len(sources) != n_out \
                or len(set(map(repr, mutated))) != len(mutated) \
                or not all(_is_size(m) and m < len(graph.inputs) for m in mutated) \
                or not all(s is None or (_is_size(s) and s < len(graph.inputs)) for s in sources) \
                or (attributes and not _holds_attributes(outputs, len(attributes))):
            raise self.fail(MANIFEST, f"specialization {k} does not match {member}")
        self.check_write_backs(member, graph, n_out, mutated, sources)
        spec = self.guarded(member, specialize, graph, inputs, outputs, n_user, state_names,
                            mutated, sources, signature, pipeline, backend, aliases)
        spec.writes = attributes
        return spec

    def aliases(self, entry: dict, k: int) -> list:
        """The entry's "aliases": per output, null or [kind, index, [[op, attrs], ...]] (the
        view ops it is of an input or output; specialize checks them against the graph)."""
        from tracejit.ir.ops import Op

        aliases = _field(self, entry, "aliases", list)
        try:
            return [None if a is None else (a[0], a[1], tuple(
                (Op(op), {str(name): _plain_attr(v) for name, v in attrs.items()})
                for op, attrs in a[2])) for a in aliases]
        except (TypeError, ValueError, KeyError, IndexError, AttributeError,
                RecursionError) as e:
            raise self.fail(MANIFEST, f"specialization {k} has bad aliases ({e})"[:400]) \
                from None

    def check_sizes(self, member: str, graph: Graph) -> None:
        """No value of the graph may be larger than a load may produce (constant folding at
        load time or a call would allocate it)."""
        limit = load_limit(None)
        values = list(graph.inputs) + [v for op in graph.walk() for v in op.results]
        for value in values:
            kind = value.type
            if not isinstance(kind, TensorType):
                continue
            dims = [d for d in kind.shape if d is not None]
            if any(d < 0 for d in dims):
                raise self.fail(member, f"%{value.name} has a negative dim: {kind}")
            size = kind.dtype.itemsize
            for d in dims:
                size *= d
            if size > limit:
                raise self.fail(member, f"%{value.name} is {kind}: {size} bytes, more than "
                                        f"a graph file's value may be ({limit}); {limit_hint()}")

    def check_write_backs(self, member: str, graph: Graph, n_out: int, mutated, sources) -> None:
        """Each output written back to an input, or handed back as one, has that input's type
        (a call copies it into the caller's tensor, which cannot change shape or dtype)."""
        for i, k in enumerate(mutated):
            got, want = graph.outputs[n_out + i], graph.inputs[k]
            if got.type != want.type or not isinstance(want.type, TensorType):
                raise self.fail(member, f"output {n_out + i} ({got.type}) is written back to "
                                        f"input %{want.name} ({want.type}): a value written "
                                        "back must have the type of the input it is written to")
        for j, k in enumerate(sources):
            if k is not None and graph.outputs[j].type != graph.inputs[k].type:
                raise self.fail(member, f"output {j} ({graph.outputs[j].type}) is handed back "
                                        f"as input %{graph.inputs[k].name} "
                                        f"({graph.inputs[k].type}), which has another type")

    def parameters(self, entries) -> inspect.Signature | None:
        """The saved callable's parameters (names, kinds, whether they had defaults)."""
        if entries is None:
            return None
        kinds = inspect._ParameterKind.__members__
        if not isinstance(entries, list) or not all(
                isinstance(p, list) and len(p) == 3 and isinstance(p[0], str)
                and p[0].isidentifier() and isinstance(p[1], str) and p[1] in kinds
                and isinstance(p[2], bool) for p in entries):
            raise self.fail(MANIFEST, "has bad parameters (each is [name, kind, has_default])")
        try:
            return inspect.Signature([
                inspect.Parameter(name, kinds[kind],
                                  default=None if has_default else inspect.Parameter.empty)
                for name, kind, has_default in entries])
        except (TypeError, ValueError, KeyError, IndexError) as e:
            raise self.fail(MANIFEST, f"has bad parameters ({e})") from None

    def check_inputs(self, member, graph: Graph, n_user, state_names, state) -> None:
        if n_user < 0 or n_user + len(state) != len(graph.inputs):
            raise self.fail(member, f"takes {len(graph.inputs)} inputs; the manifest gives "
                                    f"{n_user} arguments and {len(state)} state arrays")
        for name, value, array in zip(state_names, graph.inputs[n_user:], state):
            want = value.type
            got = TensorType(_DTYPES[array.dtype], array.shape)
            if not isinstance(want, TensorType) or want != got:
                raise self.fail(member, f"input %{value.name} is {want}; the array "
                                        f"state/{name} is {got}")


def _aliases_to_json(aliases) -> list:
    """Specialization.aliases as plain data: [kind, index, [[op, attrs], ...]] or null."""
    return [None if a is None else [a[0], a[1], [[op.value, attrs] for op, attrs, _ in a[2]]]
            for a in aliases]


def _plain_attr(value, depth: int = 0):
    """An attribute value of a view op read from JSON: lists become tuples; ints, strings and
    nulls stay; anything else is refused (ValueError)."""
    if isinstance(value, list) and depth < 8:
        return tuple(_plain_attr(v, depth + 1) for v in value)
    if value is None or isinstance(value, str) or (
            isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError(f"attribute value {str(value)[:40]!r}")


def _field(reader: _Reader, obj: dict, name: str, kind):
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise reader.fail(MANIFEST, f"field {name!r} is missing or not "
                                    f"{getattr(kind, '__name__', 'valid')}")
    return value


def _strings(reader: _Reader, obj: dict, name: str) -> list[str]:
    value = _field(reader, obj, name, list)
    if not all(isinstance(v, str) for v in value):
        raise reader.fail(MANIFEST, f"field {name!r} is not a list of strings")
    return value


def _holds_attributes(outputs, n: int) -> bool:
    """Whether a scripted function's outputs are (result, [one value per attribute written])."""
    return outputs[0] == "tuple" and len(outputs[1]) == 2 and outputs[1][1][0] == "list" \
        and len(outputs[1][1][1]) == n


def _is_size(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _count(structure) -> int:
    leaves, _, _ = pytree.flatten(pytree.unflatten(structure, _Counter()))
    return len(leaves)


class _Counter:
    """Leaves for `_count`: hands out placeholder Tensors."""

    def __iter__(self):
        return self

    def __next__(self):
        return Tensor._wrap(np.zeros(()))


def _structure_from_json(node, depth: int = 0):
    if depth > 64:
        raise ValueError("nested too deeply")
    if node == "tensor":
        return pytree.TENSOR
    if not isinstance(node, dict) or len(node) not in (1, 2, 3):
        raise ValueError(f"unknown structure node {node!r}"[:200])
    if "static" in node:
        value = node["static"]
        if not isinstance(value, (bool, int, str, type(None))):
            raise ValueError("a static value must be a number, a string or null")
        return ("static", type(value), value)
    if "float" in node:
        float.fromhex(node["float"])
        return ("float", float, node["float"])
    items = node.get("items")
    if "dict" in node:
        keys = node["dict"]
        if not isinstance(keys, list) or not isinstance(items, list) or len(keys) != len(items) \
                or not all(isinstance(key, str) for key in keys):
            raise ValueError("a dict needs as many string keys as items")
        return ("dict", tuple(keys), tuple(_structure_from_json(c, depth + 1) for c in items))
    if "namedtuple" in node:
        fields = node.get("fields")
        if not isinstance(items, list) or not isinstance(fields, list) or \
                len(fields) != len(items) or not isinstance(node["namedtuple"], str):
            raise ValueError("a namedtuple needs a name and as many fields as items")
        kind = namedtuple(node["namedtuple"], fields)  # a plain namedtuple, no user import
        return ("namedtuple", kind, tuple(_structure_from_json(c, depth + 1) for c in items))
    (kind, children), = node.items()
    if kind not in ("tuple", "list") or not isinstance(children, list):
        raise ValueError(f"unknown structure node {kind!r}")
    return (kind, tuple(_structure_from_json(c, depth + 1) for c in children))


class LoadedGraph:
    """A graph file's compiled callable: call it like the function that was saved."""

    def __init__(self, path: str, name: str, specs, state: list[Tensor], parameters,
                 numbers: set[str], manifest: dict):
        self.path, self.name, self.specs, self.state = path, name, specs, state
        self.manifest = manifest
        self._numbers = numbers
        self._signature = parameters
        self._by_key = {}
        for spec in specs:
            self._by_key.setdefault(_key(spec.in_structure, [v.type for v in
                                                             spec.graph.inputs[:spec.n_user]]),
                                    spec)

    @property
    def graphs(self) -> list[Graph]:
        return [s.graph for s in self.specs]

    @property
    def signatures(self) -> list[str]:
        return [s.signature for s in self.specs]

    def __call__(self, *args, **kwargs):
        if self._signature is None:
            bound = {"args": args, **({"kwargs": kwargs} if kwargs else {})}
        else:
            try:
                bound = dict(self._signature.bind(*args, **kwargs).arguments)
            except TypeError as e:
                raise TypeError(f"{self.name}() loaded from {self.path}: {e}") from None
        for name in self._numbers & set(bound):
            value = bound[name]
            if type(value) in (int, float):
                bound[name] = Tensor._wrap(np.array(value, np.int64 if type(value) is int
                                                    else np.float64))
        leaves, structure, _ = pytree.flatten(bound)
        spec = self._by_key.get(_key(structure, [t._type for t in leaves]))
        if spec is None:
            got = pytree.render_arguments(structure, [t._type for t in leaves]) \
                if structure[0] == "dict" else pytree.render(structure, [t._type for t in leaves])
            held = "\n  ".join(self.signatures)
            raise TypeError(f"{self.name}() loaded from {self.path} has no graph for "
                            f"{got}; it holds:\n  {held}")
        try:
            result = spec.run(leaves, self.state)
        except (ValueError, ArithmeticError) as e:  # an op failing on this call's data
            from tracejit.traced import _kernel_error

            raise _kernel_error(e) from None
        except AssertionError as e:  # a run-time check, as the traced callable raises it
            if SIZE_GUARD not in str(e):  # (the size of a `?` dim its code read has changed)
                raise runtime_error(e) from None
            raise size_guard_error(str(e), f"{self.name}() loaded from {self.path}") from None
        # attribute writes of scripted code: there is no module to write back to
        return result[0] if spec.writes else result

    def __repr__(self) -> str:
        return f"LoadedGraph({self.name} from {self.path}: {len(self.specs)} graph(s))"

    # --- torch's module conversions: they return self where the graphs already fit ---------------
    def to(self, *args, **kwargs) -> LoadedGraph:
        """`.to(dtype)` / `.to('cpu')`: self if the state already has that dtype; a loaded graph
        cannot be converted (it holds no source to capture again)."""
        from tracejit.functions import parse_to_args

        dtype, _ = parse_to_args(None, args, dict(kwargs))
        held = sorted({str(t.dtype) for t in self.state if t.dtype.is_floating_point})
        if dtype is not None and held and held != [str(dtype)]:
            raise RuntimeError(
                f"{self.name} loaded from {self.path} is compiled for {', '.join(held)} state "
                f"and cannot be converted to {dtype}: convert the module (module.to(...)), "
                "capture it again and save that")
        return self

    def float(self) -> LoadedGraph:
        return self.to(DType.float32)

    def double(self) -> LoadedGraph:
        return self.to(DType.float64)

    def half(self) -> LoadedGraph:
        return self.to(DType.float16)

    def cpu(self) -> LoadedGraph:
        return self

    def requires_grad_(self, requires_grad: bool = True) -> LoadedGraph:
        """Accepted for torch compatibility: graphs run inference only."""
        return self

    def train(self, mode: bool = True) -> LoadedGraph:
        """Self if every graph was captured in that mode (the mode is part of each graph)."""
        want = " [train" if mode else " [eval]"
        heads = [s.split(" -> ")[0] for s in self.signatures]  # "(x=...) [eval]" for modules
        other = [h for h in heads if (" [train" in h or " [eval]" in h) and want not in h]
        if other:
            raise RuntimeError(
                f"{self.name} loaded from {self.path} was captured in "
                f"{'eval' if mode else 'train'} mode and cannot switch to "
                f"{'train' if mode else 'eval'} mode: call .{'train' if mode else 'eval'}() on "
                "the module before capturing and saving it")
        return self

    def eval(self) -> LoadedGraph:
        return self.train(False)


def _key(structure, types) -> tuple:
    return (_hashable(structure), tuple(types))


def _hashable(node):
    if node[0] == "namedtuple":
        return ("namedtuple", node[1].__name__, tuple(node[1]._fields),
                tuple(_hashable(c) for c in node[2]))
    if node[0] in ("tuple", "list"):
        return (node[0], tuple(_hashable(c) for c in node[1]))
    if node[0] == "dict":
        return ("dict", node[1], tuple(_hashable(c) for c in node[2]))
    return node

