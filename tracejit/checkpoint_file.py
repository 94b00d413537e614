"""Checkpoints: `tracejit.save(obj, f)` / `tracejit.load(f)` of state dicts and training state.

A checkpoint is a graph file's zip container with the manifest kind "checkpoint": the object's
structure is JSON (member `object.json`) and every tensor or numpy array is an npy member, so
loading runs no code from the file (no pickle). It holds nested dicts, lists and tuples of tensors,
numpy arrays, numbers, strings, None and dtypes. docs/graph-file.md describes the format.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import math
from typing import Any

import numpy as np

from tracejit.ir.types import DType
from tracejit.tensor import Tensor

KIND = "checkpoint"
OBJECT = "object.json"  # the member holding the object's JSON tree
VERSION = 2  # the first format version with checkpoints
MAX_DEPTH = 200  # nesting a checkpoint may have (deeper is a damaged or hostile file)
_DTYPES = {d.np: d for d in DType}
_KEY_TYPES = (str, int, float, bool, type(None))


def manifest_and_members(obj, version: str) -> list[tuple[str, bytes]]:
    """The zip members (manifest first) of a checkpoint holding `obj`."""
    writer = _Writer()
    root = writer.node(obj, "obj", 0)
    writer.members[OBJECT] = json.dumps(root, separators=(",", ":")).encode()
    manifest = {
        "format": "tracejit-graph",
        "version": VERSION,
        "tracejit": version,
        "kind": KIND,
        "object": OBJECT,
        "arrays": writer.arrays,
        "members": {m: {"size": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                    for m, b in writer.members.items()},
    }
    return [("manifest.json", json.dumps(manifest, indent=1).encode()), *writer.members.items()]


class _Writer:
    """Turns an object into JSON nodes, writing each distinct array once."""

    def __init__(self):
        self.members: dict[str, bytes] = {}
        self.arrays: dict[str, str] = {}  # array name -> member
        self.seen: dict[int, str] = {}  # id of a tensor or array -> its array name
        self.keep: list = []  # keeps the objects of `seen` alive (ids stay unique)
        self.open: set[int] = set()  # containers being written (a cycle is refused)

    def array(self, value, data: np.ndarray) -> str:
        name = self.seen.get(id(value))
        if name is None:
            name = str(len(self.arrays))
            member = f"arrays/{name}.npy"
            buffer = io.BytesIO()
            # (not ascontiguousarray: it makes a 0-d array 1-d)
            np.lib.format.write_array(buffer, np.asarray(data, order="C"), allow_pickle=False)
            self.members[member] = buffer.getvalue()
            self.arrays[name] = member
            self.seen[id(value)] = name
            self.keep.append(value)
        return name

    def node(self, value, where: str, depth: int):
        if depth > MAX_DEPTH:
            raise ValueError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, np.generic):  # before float: np.float64 is a float subclass
            return {"numpy_scalar": self.array(value, self.plain(np.asarray(value), where))}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):  # JSON's shortest repr is exact; NaN and inf are not JSON
            return float(value) if math.isfinite(value) else {"float": float(value).hex()}
        if isinstance(value, Tensor):
            return self.tensor(value, where)
        if isinstance(value, np.ndarray):
            return {"ndarray": self.array(value, self.plain(value, where))}
        if isinstance(value, DType):
            return {"dtype": value.name}
        if isinstance(value, (list, tuple, dict)):
            return self.container(value, where, depth)
        raise TypeError(
            f"{where}: tracejit.save cannot save an object of type {type(value).__module__}."
            f"{type(value).__qualname__}: a checkpoint holds tensors, numpy arrays, numbers, "
            "strings, None, dtypes and dicts, lists and tuples of them (torch pickles arbitrary "
            "objects; tracejit files never hold code). Save plain data instead"
            + (", e.g. vars(args)" if hasattr(value, "__dict__") else ""))

    def tensor(self, value: Tensor, where: str) -> dict:
        from tracejit.nn.module import Parameter

        data = self.plain(value.detach().numpy(), where)
        node = {"tensor": self.array(value, data)}
        if isinstance(value, Parameter):
            node["parameter"] = bool(value.requires_grad)
        return node

    @staticmethod
    def plain(data: np.ndarray, where: str) -> np.ndarray:
        if data.dtype.hasobject or data.dtype.fields is not None:
            raise TypeError(f"{where}: cannot save a numpy array of dtype {data.dtype} "
                            "(objects and structured dtypes need pickle)")
        return data

    def container(self, value, where: str, depth: int) -> dict:
        if id(value) in self.open:
            raise ValueError(f"{where}: the object contains itself; a checkpoint is a tree")
        self.open.add(id(value))
        try:
            if isinstance(value, dict):
                pairs = [[self.key(k, where), self.node(v, f"{where}[{k!r}]", depth + 1)]
                         for k, v in value.items()]
                if not isinstance(value, collections.OrderedDict):
                    return {"dict": pairs}
                node = {"ordered_dict": pairs}
                metadata = getattr(value, "_metadata", None)  # a state_dict's layer versions
                if isinstance(metadata, dict):
                    node["metadata"] = self.node(metadata, f"{where}._metadata", depth + 1)
                return node
            if type(value) not in (list, tuple):
                raise TypeError(f"{where}: cannot save a {type(value).__qualname__} (a named "
                                "tuple or list subclass); convert it to a plain tuple, list "
                                "or dict")
            kind = "list" if isinstance(value, list) else "tuple"
            return {kind: [self.node(v, f"{where}[{i}]", depth + 1)
                           for i, v in enumerate(value)]}
        finally:
            self.open.discard(id(value))

    def key(self, key, where: str):
        if isinstance(key, _KEY_TYPES) or (isinstance(key, tuple) and all(
                isinstance(k, _KEY_TYPES) for k in key)):
            return self.node(key, where, 0)
        raise TypeError(f"{where}: cannot save a dict key of type {type(key).__name__}; keys "
                        "must be strings, numbers, None or tuples of them")


# --- loading ------------------------------------------------------------------------------------
def read(reader, manifest: dict) -> Any:
    """The object a checkpoint's manifest describes (`reader` is graphfile's `_Reader`)."""
    arrays, member = manifest.get("arrays"), manifest.get("object")
    if not isinstance(arrays, dict) or not isinstance(member, str):
        raise reader.fail("manifest.json", "a checkpoint manifest needs 'object' and 'arrays'")
    data = reader.checked(manifest, member)
    try:
        root = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise reader.fail(member, f"is not valid JSON ({type(e).__name__}: {e})"[:300]) \
            from None
    return _Builder(reader, manifest, arrays, member).node(root, 0)


class _Builder:
    def __init__(self, reader, manifest: dict, arrays: dict, member: str):
        self.reader, self.manifest, self.arrays, self.member = reader, manifest, arrays, member
        self.made: dict[tuple[str, str], object] = {}  # (kind, array name) -> object

    def bad(self, problem: str):
        return self.reader.fail(self.member, problem)

    def array(self, name) -> np.ndarray:
        member = self.arrays.get(name) if isinstance(name, str) else None
        if not isinstance(member, str):
            raise self.bad(f"names the array {name!r}, which the manifest does not list"[:200])
        # (the npy header's declared size is checked against the data before anything is made)
        array = self.reader.npy(member, self.reader.checked(self.manifest, member))
        return array.copy()  # writable and owning its memory, like torch.load's tensors

    def node(self, node, depth: int):
        if depth > MAX_DEPTH:
            raise self.bad(f"nested more than {MAX_DEPTH} levels deep")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not node:
            raise self.bad(f"unknown node {node!r}"[:200])
        kind = next(iter(node))
        handler = getattr(self, f"make_{kind}", None)
        if handler is None or not (len(node) == 1 or kind in ("tensor", "ordered_dict")):
            raise self.bad(f"unknown node {node!r}"[:200])
        try:
            return handler(node, node[kind], depth)
        except (TypeError, ValueError, OverflowError) as e:
            raise self.bad(f"bad {kind} node ({e})"[:300]) from None

    def make_float(self, node, value, depth):
        if not isinstance(value, str):
            raise TypeError("a float is its hex string")
        return float.fromhex(value)

    def shared(self, kind: str, name, make):
        key = (kind, name if isinstance(name, str) else repr(name))
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def make_tensor(self, node, name, depth):
        from tracejit.nn.module import Parameter

        if set(node) - {"tensor", "parameter"}:
            raise ValueError(f"unknown fields {sorted(node)}")

        def make():
            array = self.array(name)
            if array.dtype not in _DTYPES:
                raise self.reader.fail(self.arrays[name], f"holds {array.dtype}, not a "
                                                          "tracejit dtype")
            return Tensor._wrap(array)

        tensor = self.shared("tensor", name, make)
        if "parameter" in node:
            return self.shared("parameter", name,
                               lambda: Parameter(tensor, bool(node["parameter"])))
        return tensor

    def make_ndarray(self, node, name, depth):
        return self.shared("ndarray", name, lambda: self.array(name))

    def make_numpy_scalar(self, node, name, depth):
        return self.shared("numpy_scalar", name, lambda: self.array(name)[()])

    def make_dtype(self, node, name, depth):
        if not isinstance(name, str) or name not in DType.__members__:
            raise ValueError(f"unknown dtype {name!r}")
        return DType[name]

    def make_list(self, node, items, depth):
        if not isinstance(items, list):
            raise TypeError("a list node holds a list")
        return [self.node(item, depth + 1) for item in items]

    def make_tuple(self, node, items, depth):
        return tuple(self.make_list(node, items, depth))

    def pairs(self, items, depth):
        if not isinstance(items, list) or not all(
                isinstance(p, list) and len(p) == 2 for p in items):
            raise TypeError("a dict node holds [key, value] pairs")
        out = []
        for key, value in items:
            key = self.node(key, depth + 1)
            if isinstance(key, list):
                raise TypeError("a dict key cannot be a list")
            out.append((key, self.node(value, depth + 1)))
        return out

    def make_dict(self, node, items, depth):
        return dict(self.pairs(items, depth))

    def make_ordered_dict(self, node, items, depth):
        if set(node) - {"ordered_dict", "metadata"}:
            raise ValueError(f"unknown fields {sorted(node)}")
        result = collections.OrderedDict(self.pairs(items, depth))
        if "metadata" in node:
            result._metadata = self.node(node["metadata"], depth + 1)
        return result
