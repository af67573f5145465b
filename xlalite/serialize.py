"""``xlalite.save`` / ``xlalite.load``: a model as IR text plus its weights.

``save(path, model, example_inputs)`` traces ``model(*example_inputs)`` in eval mode and
writes ``path.xir`` (the inference function; parameters and buffers are its trailing
arguments) and ``path.npz`` (their values, in argument order). ``load(path)`` parses and
verifies the IR, compiles it, and returns a callable taking only the inputs. Loading only
parses text and reads arrays (``allow_pickle=False``): nothing from the files is executed as
Python, and the model's class is not needed.

``save_state(path, model.state_dict())`` / ``load_state(path)`` write and read a checkpoint
(a ``.npz`` of named arrays). In a multi-process run every rank calls them; only rank 0
writes, and the others wait until the file is complete, so any world size (one process too)
can load it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xlalite import distributed
from xlalite.backends.base import Backend
from xlalite.compiler import DEFAULT_TARGET, compile
from xlalite.frontend.jit import Jitted, jit
from xlalite.ir.parser import parse_module
from xlalite.ir.verifier import verify


def save(path: str | Path, model: Any, example_inputs: Sequence[np.ndarray]) -> None:
    """Write ``path.xir`` and ``path.npz`` for inference with `model` (a Module or function)."""
    path = Path(path)
    was_training = getattr(model, "training", None)
    if was_training:
        model.eval()
    try:
        fn = model if isinstance(model, Jitted) else jit(lambda *xs: model(*xs))
        lowered = fn.lower(*example_inputs)
    finally:
        if was_training:
            model.train()
    if lowered.state_out:
        raise ValueError("the model updates state in eval mode; cannot save it for inference")
    func = lowered.module.main
    func.attributes["xl.num_inputs"] = len(func.args) - len(lowered.state_in)
    if distributed.rank() == 0:
        path.with_suffix(".xir").write_text(str(lowered.module))
        np.savez(path.with_suffix(".npz"),
                 **{f"arg{i}": x.array for i, x in enumerate(lowered.state_in)})
    distributed.barrier()  # no rank reads the files before rank 0 has written them


def save_state(path: str | Path, state: dict[str, np.ndarray]) -> None:
    """Write `state` (a ``state_dict()``) to `path` (``.npz``); rank 0 only, see above."""
    path = Path(path).with_suffix(".npz")
    if distributed.rank() == 0:
        arrays: dict[str, Any] = {name: np.asarray(v) for name, v in state.items()}
        np.savez(path, **arrays)
    distributed.barrier()


def load_state(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays `save_state` wrote, by name (no pickles are read)."""
    with np.load(Path(path).with_suffix(".npz"), allow_pickle=False) as f:
        return {name: f[name] for name in f.files}


def load(path: str | Path, backend: str | Backend = DEFAULT_TARGET) -> Callable[..., np.ndarray]:
    """A callable ``f(*inputs)`` running the saved inference function, compiled for `backend`
    (a target spec such as ``"numba-cpu{exact-math=true}"``)."""
    path = Path(path)
    text_path = path.with_suffix(".xir")
    module = verify(parse_module(text_path.read_text(encoding="utf-8"), str(text_path)))
    func = module.main
    if "donate" in func.attributes:  # a saved model would overwrite its caller's inputs
        raise ValueError(f"{text_path}: @{func.name} donates arguments "
                         f"(donate = {list(func.attributes['donate'])}); a saved inference "
                         "function must leave its inputs and weights unchanged")
    npz = path.with_suffix(".npz")
    with np.load(npz, allow_pickle=False) as f:
        expected = [f"arg{i}" for i in range(len(f.files))]
        if sorted(f.files) != sorted(expected):
            raise ValueError(f"{npz}: arrays must be named {', '.join(expected) or '(none)'}, "
                             f"got {', '.join(sorted(f.files))}")
        weights = [f[name] for name in expected]
    n_inputs = func.attributes.get("xl.num_inputs", len(func.args) - len(weights))
    if not isinstance(n_inputs, int) or n_inputs + len(weights) != len(func.args):
        raise ValueError(f"{path}: the .npz holds {len(weights)} arrays but @{func.name} takes "
                         f"{len(func.args)} arguments with xl.num_inputs = {n_inputs}")
    executable = compile(module, backend)  # re-derives any memory plan the file holds

    def run(*inputs: np.ndarray):
        if len(inputs) != n_inputs:
            raise TypeError(f"the saved model takes {n_inputs} inputs, got {len(inputs)}")
        outs = executable(*inputs, *weights)
        return outs[0] if len(outs) == 1 else outs

    return run
