"""Run under ``mpiexec -n 2 ... train_equal.py FOLDER``: K data-parallel steps of the digits MLP (DistributedDataParallel,
DistributedSampler, per-rank batch b) end with the same parameters as K steps of one process
with batch 2b, in float64 (to 1e-6) and float32 (to 1e-5); both ranks end equal. Also: a
checkpoint written by rank 0 loads on every rank. The float32 run overlaps its all-reduces with
the backward pass (numba-cpu{overlap-collectives=true}). Exits non-zero on a mismatch."""

import sys
from pathlib import Path

import numpy as np

import xlalite as xl
from xlalite import data, distributed, nn, optim

comm = distributed.init()
r, n = comm.rank, comm.size
STEPS, BATCH = 12, 16  # per-rank batch; the single process takes n * BATCH
BACKENDS = {np.float64: "numba-cpu", np.float32: "numba-cpu{overlap-collectives=true}"}


def make_model(dtype):
    nn.manual_seed(1 + r)  # different on each rank: the DDP wrapper's broadcast equalises
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    for m in model.children():
        for name, p in list(m._parameters.items()):
            setattr(m, name, nn.Parameter(p.array.astype(dtype)))
    return model


def train(model, loader, dtype):
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @xl.jit(backend=BACKENDS[dtype])
    def step(x, y):
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    done = 0
    while done < STEPS:
        for x, y in loader:
            step(x.astype(dtype), y)
            done += 1
            if done == STEPS:
                break
    return model


ds = data.load_digits("train")
for dtype, tol in ((np.float64, 1e-6), (np.float32, 1e-5)):
    ddp = nn.parallel.DistributedDataParallel(make_model(dtype), bucket_cap_mb=0.001)
    start = {k: v.copy() for k, v in ddp.state_dict().items()}
    sampler = data.DistributedSampler(ds, shuffle=True, seed=3)
    train(ddp, data.DataLoader(ds, BATCH, sampler=sampler, drop_last=True), dtype)
    assert ddp.last_buckets > 1, "gradients were not bucketed into several all_reduce calls"
    params = {k: v for k, v in ddp.state_dict().items()}
    # every rank ends with the same parameters
    for k, v in params.items():
        others = comm.all_gather(v[None], 0)
        assert np.array_equal(others[0], others[1]), f"ranks differ in {k}"
    # and they equal one process's training with the global batch, in the same order
    single = make_model(dtype)
    single.load_state_dict(start)
    order = data.DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=3)
    train(single, data.DataLoader(ds, n * BATCH, sampler=order, drop_last=True), dtype)
    worst = max(float(np.max(np.abs(params[k] - v))) for k, v in single.state_dict().items())
    assert worst <= tol, f"{dtype.__name__}: 2-rank and 1-rank parameters differ by {worst:.2e}"
    print(f"rank {r}: {np.dtype(dtype).name} {STEPS} steps, {ddp.last_buckets} all_reduce calls, "
          f"max |2-rank - 1-rank| = {worst:.1e}", flush=True)

# a checkpoint written once (by rank 0) loads on every rank (and, in the test, on one process)
folder = Path(sys.argv[1])  # shared by the ranks: the test's tmp_path
xl.save_state(folder / "ckpt", ddp.state_dict())
loaded = xl.load_state(folder / "ckpt")
assert all(np.array_equal(loaded[k], v) for k, v in ddp.state_dict().items())
print(f"rank {r}: checkpoint ok", flush=True)
