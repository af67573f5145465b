"""Data parallelism: ``DistributedDataParallel``, shaped like torch.nn.parallel's.

Every rank holds a full copy of the model and trains on its own shard of each batch
(``data.DistributedSampler``). Wrapping broadcasts the parameters and buffers from rank 0, so
all ranks start equal; after each ``loss.backward()`` the wrapped model's gradients are
averaged over the ranks, so every rank takes the same optimizer step and the copies stay
equal. Under ``jit`` the averaging is part of the one compiled training step: the autodiff
pass produces the gradients, and the wrapper's gradient hook packs them into buckets of about
`bucket_cap_mb` MiB (last layers first, the order the backward pass produces them, as
PyTorch's DDP does), one ``xl.all_reduce{op=mean}`` per bucket, so a model with many small
parameters makes few collective calls.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xlalite import distributed
from xlalite.frontend import numpy_api as xnp
from xlalite.frontend.collectives import all_reduce
from xlalite.frontend.state import Parameter
from xlalite.frontend.tensor import TensorBase
from xlalite.nn.module import Module


class DistributedDataParallel(Module):
    """`module`, with its gradients averaged over all ranks after every backward pass.

    The wrapped module is ``.module``; ``state_dict()`` is its state dict (no ``module.``
    prefix, unlike PyTorch, so checkpoints move between wrapped and bare models).
    `bucket_cap_mb`: gradient bytes per collective call. Parameters and buffers are
    broadcast from rank 0 here unless `broadcast_state` is False."""

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0,
                 broadcast_state: bool = True):
        super().__init__()
        if bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.bucket_bytes = int(bucket_cap_mb * (1 << 20))
        self.world = distributed.world()
        self.last_buckets = 0  # all_reduce calls the last backward pass made (0: one rank)
        if broadcast_state:
            for _, t in [*module.named_parameters(), *module.named_buffers()]:
                t.array[...] = self.world.broadcast(t.array, 0)
        hook = self._average  # one object: autograd calls it once with all of its parameters
        for p in module.parameters():
            p.grad_hooks = (*p.grad_hooks, hook)

    def forward(self, *args: object, **kwargs: object) -> Any:
        return self.module(*args, **kwargs)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The wrapped module's state, without a ``module.`` prefix: a checkpoint written at
        any world size loads into the bare model (``xl.save_state`` writes it on rank 0)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        self.module.load_state_dict(state, strict)

    def buckets(self, params: list[Parameter]) -> list[list[int]]:
        """Indices into `params` per bucket: reverse order, one dtype per bucket, a bucket
        closed once it holds `bucket_bytes` (every rank computes the same buckets)."""
        out: list[list[int]] = []
        size, dtype = 0, None
        for i in reversed(range(len(params))):
            p = params[i]
            if out and size < self.bucket_bytes and p.type.dtype is dtype:
                out[-1].append(i)
            else:
                out.append([i])
                size, dtype = 0, p.type.dtype
            size += p.type.nbytes
        return out

    def _average(self, params: list[Parameter], grads: list[TensorBase]) -> list[TensorBase]:
        if self.world.size == 1:
            return grads
        out = list(grads)
        buckets = self.buckets(params)
        self.last_buckets = len(buckets)
        for bucket in buckets:
            flat = xnp.concatenate([xnp.reshape(grads[i], (-1,)) for i in bucket])
            mean = all_reduce(flat, "mean")
            start = 0
            for i in bucket:
                n = int(np.prod(grads[i].shape, dtype=np.int64))
                out[i] = xnp.reshape(mean[start:start + n], grads[i].shape)
                start += n
        return out


DDP = DistributedDataParallel
