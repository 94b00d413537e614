"""The peers: one builder per peer turns a Workload into a callable timed by the harness.

Compiled peers (COMPILED) compile while they are built and report that first call's time
separately; the harness times only calls after it. "tracejit traced" is whatever
`tracejit.trace` returns, so a new backend behind it is measured here unchanged. A peer whose
framework is missing raises PeerUnavailable, and the caller prints why it was skipped.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.harness import time_once

COMPILED = ("tracejit traced", "tracejit script", "tracejit compile", "torch.compile", "jax.jit")
_FRAMEWORK = {"numpy": "numpy", "tracejit eager": "tracejit", "tracejit traced": "tracejit",
              "tracejit script": "tracejit", "tracejit compile": "tracejit",
              "torch eager": "torch", "torch.compile": "torch", "jax.jit": "jax"}
_INSTALL = {"torch": "torch==2.13.0", "jax": "jax[cpu]"}


class PeerUnavailable(Exception):
    """The peer cannot run on this machine (its framework is not installed, say)."""


@dataclass
class Peer:
    call: Callable[[], object]  # one run of the workload on prebuilt inputs
    to_numpy: Callable[[object], np.ndarray]
    first_call_s: float | None = None  # compiled peers: compile and first run, in seconds


def import_framework(peer: str):
    """Import the module `peer` runs on, or raise PeerUnavailable naming what to install."""
    name = _FRAMEWORK[peer]
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        hint = f"pip install -e '.[bench]' (it lists {_INSTALL[name]})" if name in _INSTALL else ""
        raise PeerUnavailable(f"{name} cannot be imported ({e}); {hint}") from None
    if name == "jax" and os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        # the compile probe's warm runs: cache every compiled program, however small
        module.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        module.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return module


def _named(fn: Callable, framework, name: str) -> Callable:
    """fn with its framework argument bound; keeps the tensor parameters' names for tracing."""
    bound = functools.partial(fn, framework)
    bound.__name__ = name.split()[0]
    return bound


def _compiled(build, args, finish=lambda out: out):
    """(the callable `build()` makes, the seconds to build it and finish its first call)."""
    holder = {}

    def compile_and_call():
        holder["fn"] = build()
        return finish(holder["fn"](*args))

    first_s, _ = time_once(compile_and_call)
    return holder["fn"], first_s


def _numpy(w) -> Peer:
    return Peer(lambda: w.array_fn(np, *w.inputs), np.asarray)


def _tracejit_eager(w) -> Peer:
    tracejit = import_framework("tracejit eager")
    import tracejit.nn.functional as F

    tensors = [tracejit.from_numpy(a) for a in w.inputs]
    return Peer(lambda: w.tensor_fn(F, *tensors), lambda t: t.numpy())


def _tracejit_traced(w) -> Peer:
    tracejit = import_framework("tracejit traced")
    import tracejit.nn.functional as F

    tensors = [tracejit.from_numpy(a) for a in w.inputs]
    fn = _named(w.tensor_fn, F, w.name)
    traced, first_s = _compiled(lambda: tracejit.trace(fn, *tensors), tensors)
    return Peer(lambda: traced(*tensors), lambda t: t.numpy(), first_s)


def _tracejit_script(w) -> Peer:
    """`tracejit.script` of the workload's source: loops stay loops (W6), straight-line code
    gives the graph trace does."""
    tracejit = import_framework("tracejit script")
    import tracejit.nn.functional as F

    tensors = [tracejit.from_numpy(a) for a in w.inputs]
    scripted, first_s = _compiled(lambda: tracejit.script(w.tensor_fn), [F, *tensors])
    return Peer(lambda: scripted(F, *tensors), lambda t: t.numpy(), first_s)


def _tracejit_compile(w) -> Peer:
    """`tracejit.compile` of the workload's source: one graph where script captures it whole,
    graphs split by Python statements where it breaks (W7's `.item()` and logging)."""
    tracejit = import_framework("tracejit compile")
    import tracejit.nn.functional as F

    tensors = [tracejit.from_numpy(a) for a in w.inputs]
    compiled, first_s = _compiled(lambda: tracejit.compile(w.tensor_fn), [F, *tensors])
    return Peer(lambda: compiled(F, *tensors), lambda t: t.numpy(), first_s)


def _torch_eager(w) -> Peer:
    torch = import_framework("torch eager")
    tensors = [torch.from_numpy(a) for a in w.inputs]
    fn = _named(w.tensor_fn, torch.nn.functional, w.name)
    return Peer(lambda: fn(*tensors), lambda t: t.numpy())


def _torch_compile(w) -> Peer:
    torch = import_framework("torch.compile")
    torch._dynamo.reset()  # each workload compiles on its own, with static shapes
    tensors = [torch.from_numpy(a) for a in w.inputs]
    fn = _named(w.tensor_fn, torch.nn.functional, w.name)
    compiled, first_s = _compiled(lambda: torch.compile(fn), tensors)  # default mode
    return Peer(lambda: compiled(*tensors), lambda t: t.numpy(), first_s)


def _jax_jit(w) -> Peer:
    jax = import_framework("jax.jit")
    arrays = [jax.device_put(a) for a in w.inputs]
    fn = _named(w.array_fn, jax.numpy, w.name)
    # jax dispatches asynchronously: a run ends when its result is ready
    jitted, first_s = _compiled(lambda: jax.jit(fn), arrays,
                                finish=lambda out: out.block_until_ready())
    return Peer(lambda: jitted(*arrays).block_until_ready(), np.asarray, first_s)


PEERS: dict[str, Callable] = {
    "numpy": _numpy,
    "tracejit eager": _tracejit_eager,
    "tracejit traced": _tracejit_traced,
    "tracejit script": _tracejit_script,
    "tracejit compile": _tracejit_compile,
    "torch eager": _torch_eager,
    "torch.compile": _torch_compile,
    "jax.jit": _jax_jit,
}


def select(names: str | None) -> list[str]:
    """The peers named in a comma list like "numpy,torch eager" (all when None); numpy always
    runs, as every result is checked against it."""
    if not names:
        return list(PEERS)
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    return ["numpy", *(n for n in chosen if n != "numpy")]


def build_peers(w, names=None) -> tuple[dict[str, Peer], dict[str, str], dict[str, str]]:
    """({peer: Peer} for those built, {peer: why} for those skipped as unavailable here,
    {peer: error} for those that failed to build, a compile error say)."""
    built, skipped, failed = {}, {}, {}
    for name in names or PEERS:
        try:
            built[name] = PEERS[name](w)
        except PeerUnavailable as e:
            skipped[name] = str(e)
        except Exception as e:  # a failing peer is reported, and the others still run
            failed[name] = f"{type(e).__name__}: {e}"
    return built, skipped, failed


def max_error(w, peer: Peer, reference: np.ndarray) -> tuple[bool, float]:
    """Run the peer once and compare with numpy's result: (within w.tol, max abs error)."""
    got = np.asarray(peer.to_numpy(peer.call()), dtype=np.float64)
    if got.shape != reference.shape:
        return False, float("inf")
    ok = np.allclose(got, reference, rtol=w.tol, atol=w.tol)
    return bool(ok), float(np.max(np.abs(got - reference), initial=0.0))
