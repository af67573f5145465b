"""Data-parallel training of the digits MLP on several processes with MPI.

    mpiexec -n 2 python examples/train_digits_ddp.py
    mpiexec -n 8 -f hosts python examples/train_digits_ddp.py   # across machines (MPICH)

Every rank trains a copy of the model on its shard of each batch (DistributedSampler); the
compiled step averages the gradients over the ranks (DistributedDataParallel: bucketed
xl.all_reduce calls inside the step), so all copies take the same steps. The per-rank batch is
64 / ranks, so the global batch, and the result, is the single-process example's. Rank 0 shows
the progress bar, prints the summary and writes the checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import OUT, fit  # noqa: E402

import xlalite as xl  # noqa: E402
from xlalite import data, distributed, nn, optim  # noqa: E402

GLOBAL_BATCH = 64


def main(epochs: int = 20) -> dict:
    comm = distributed.init()
    if GLOBAL_BATCH % comm.size:
        raise SystemExit(f"the global batch {GLOBAL_BATCH} does not split over {comm.size} ranks")
    nn.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train = data.load_digits("train")
    sampler = data.DistributedSampler(train, shuffle=True, seed=0)
    loader = data.DataLoader(train, GLOBAL_BATCH // comm.size, sampler=sampler, drop_last=True)
    summary = fit(model, opt, train, data.load_digits("test"), epochs=epochs,
                  batch_size=GLOBAL_BATCH, name=f"digits_ddp_{comm.size}ranks", loader=loader,
                  main_process=comm.rank == 0)
    OUT.mkdir(exist_ok=True)
    xl.save_state(OUT / "digits_ddp", model.state_dict())  # rank 0 writes, the others wait
    if comm.rank == 0:
        print(f"{comm.size} ranks x batch {GLOBAL_BATCH // comm.size}; "
              f"{model.last_buckets} all_reduce call(s) per step; checkpoint "
              f"{OUT / 'digits_ddp.npz'}")
    return summary


if __name__ == "__main__":
    summary = main()
    assert summary["test_accuracy"] >= 0.97, summary
