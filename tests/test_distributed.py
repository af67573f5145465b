"""xlalite.distributed: the one-process world, collective ops in the IR, DistributedSampler,
DistributedDataParallel; and, under ``mpiexec -n 2`` (the ``mpi`` extra), collectives against
NumPy, 2-rank training equal to 1-rank training, and the failure modes (tests/mpi/*.py)."""

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import xlalite as xl
from xlalite import data, distributed, nn, optim
from xlalite.distributed import CollectiveError
from xlalite.ir import parse_module
from xlalite.ir.diagnostics import XirError
from xlalite.ir.verifier import verify

HERE = Path(__file__).resolve().parent
MPIEXEC = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                        f"{os.environ.get('PATH', '')}")
needs_mpi = pytest.mark.skipif(MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
                               reason="needs mpi4py and mpiexec (pip install 'xlalite[mpi]')")


def test_one_process_world_is_the_identity():
    assert not distributed.launched_under_mpi()
    assert distributed.rank() == 0 and distributed.world_size() == 1
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for backend in ("interpreter", "numba-cpu"):
        outs = xl.jit(lambda x: (xl.all_reduce(x, "mean"), xl.all_gather(x, 1),
                                 xl.reduce_scatter(x), xl.broadcast_from(x)), backend=backend)(x)
        for out in outs:
            np.testing.assert_array_equal(out, x)
    distributed.barrier()


def test_collective_ops_print_parse_and_check_their_types():
    text = """func @f(%x: f32[4,3]) -> (f32[4,3], f32[8,3], f32[2,3], f32[4,3]) {
  %0 = "xl.all_reduce"(%x) {op = "max"} : (f32[4,3]) -> f32[4,3]
  %1 = "xl.all_gather"(%x) {axis = 0, size = 2} : (f32[4,3]) -> f32[8,3]
  %2 = "xl.reduce_scatter"(%x) {op = "sum", axis = 0, size = 2} : (f32[4,3]) -> f32[2,3]
  %3 = "xl.broadcast_from"(%x) {root = 1} : (f32[4,3]) -> f32[4,3]
  return %0, %1, %2, %3
}"""
    m = parse_module(text)
    assert str(m).strip() == text
    with pytest.raises(XirError, match="does not split into 2 equal blocks"):
        verify(parse_module("""func @g(%x: f32[3]) -> f32[1] {
  %0 = "xl.reduce_scatter"(%x) {op = "sum", axis = 0, size = 2} : (f32[3]) -> f32[1]
  return %0
}"""))
    with pytest.raises(XirError, match="'xl.all_reduce' operand must have element type f16"):
        verify(parse_module("""func @g(%x: i32[2]) -> i32[2] {
  %0 = "xl.all_reduce"(%x) {op = "mean"} : (i32[2]) -> i32[2]
  return %0
}"""))


def test_collectives_survive_every_pass_and_a_program_traced_for_two_ranks_refuses_one():
    f = xl.jit(lambda x: xl.all_reduce(x) * 0.0 + 1.0)  # the result does not need it...
    text = f.lower(np.ones(3, np.float32)).compile().source()
    assert "collectives.all_reduce(" in text  # ...but every rank must still call it
    m = parse_module("""func @f(%x: f32[2]) -> f32[4] {
  %0 = "xl.all_gather"(%x) {axis = 0, size = 2} : (f32[2]) -> f32[4]
  return %0
}""")
    for backend in ("interpreter", "numba-cpu"):
        with pytest.raises(CollectiveError, match="traced for 2 ranks but runs on a world of 1"):
            xl.compile(m, backend)(np.ones(2, np.float32))


def test_gradients_through_max_reductions_are_refused():
    with pytest.raises(Exception, match="has no gradient"):
        xl.grad(lambda x: xl.sum(xl.all_reduce(x, "max")))(np.ones(3))


def test_distributed_sampler_shards_cover_each_epoch_once_in_step_order():
    ds = data.TensorDataset(np.arange(21), np.arange(21))
    shards = [list(data.DistributedSampler(ds, num_replicas=3, rank=r, seed=5)) for r in range(3)]
    assert all(len(s) == 7 for s in shards)
    assert sorted(sum(shards, [])) == list(range(21))
    whole = list(data.DistributedSampler(ds, num_replicas=1, rank=0, seed=5))
    assert [shards[k % 3][k // 3] for k in range(21)] == whole  # rank r takes position r mod R
    s = data.DistributedSampler(ds, num_replicas=2, rank=1, seed=5)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and len(first) == 11  # padded to a multiple of 2
    assert len(data.DistributedSampler(ds, num_replicas=2, rank=0, drop_last=True)) == 10
    loader = data.DataLoader(ds, 4, sampler=data.DistributedSampler(ds, 2, 0, shuffle=False))
    assert [b[0].tolist() for b in loader][0] == [0, 2, 4, 6]
    with pytest.raises(ValueError, match="rank 2 is not in"):
        data.DistributedSampler(ds, num_replicas=2, rank=2)


def test_ddp_buckets_gradients_last_layer_first():
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=300 / (1 << 20))
    params = model.parameters()  # w1 (512 B), b1 (64), w2 (256), b2 (16)
    assert ddp.buckets(params) == [[3, 2, 1], [0]]  # closed once a bucket holds 300 bytes
    assert ddp.state_dict().keys() == model.state_dict().keys()
    x, y = np.ones((2, 8), np.float32), np.array([0, 1])
    assert len({id(p.grad_hooks[-1]) for p in params}) == 1  # one hook for all, so that...
    calls = []

    def shared(ps, gs):
        calls.append(len(ps))
        return gs

    for p in params:
        p.grad_hooks += (shared,)
    nn.cross_entropy(ddp(x), y).backward()  # one process: gradients pass unchanged
    assert calls == [4]  # ...autograd calls it once with every parameter, and it can bucket them
    assert model[0].weight.grad is not None


def test_the_watchdog_names_an_overdue_collective_and_the_rank():
    class Comm:
        rank, size, timeout = 1, 4, 0.05

    dog = object.__new__(distributed.Watchdog)  # without its thread
    dog.comm, dog.current = Comm(), None
    assert dog.overdue(10.0) is None
    dog.current = (("all_reduce(sum)", 7, np.dtype(np.float32), (10,)), 5.0)
    assert dog.overdue(4.9) is None
    assert dog.overdue(5.1) == ("rank 1 of 4: all_reduce(sum) #7 of float32[10] did not complete "
                                "in 0.05 s; another rank called a different collective (or "
                                "different shapes), or stopped before reaching it")


def _mpirun(script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(HERE / "mpi" / script), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@needs_mpi
def test_collectives_on_two_ranks_match_numpy():
    run = _mpirun("collectives.py")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("collectives ok") == 2


@needs_mpi
def test_two_rank_training_equals_one_rank_with_the_global_batch(tmp_path):
    run = _mpirun("train_equal.py", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("float64 12 steps") == 2 and run.stdout.count("checkpoint ok") == 2
    # the 2-rank checkpoint loads into the bare model in this one-process world
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    model.load_state_dict(xl.load_state(tmp_path / "ckpt"))
    assert model(np.ones((1, 64), np.float32)).shape == (1, 10)


@needs_mpi
def test_a_rank_that_skips_a_collective_ends_the_job_with_a_timeout_error():
    start = time.monotonic()
    run = _mpirun("failures.py", "desync", timeout=60)
    assert run.returncode != 0
    assert "rank 0 of 2: all_reduce(sum) #2 of float32[1000] did not complete in 3 s" in run.stderr
    assert time.monotonic() - start < 30


@needs_mpi
def test_a_rank_that_raises_aborts_the_others_instead_of_leaving_them_waiting():
    start = time.monotonic()
    run = _mpirun("failures.py", "raises", timeout=60)
    assert run.returncode != 0
    assert "rank 1 fails on purpose" in run.stderr and "rank 1 failed; aborting" in run.stderr
    assert time.monotonic() - start < 30  # rank 0's timeout is 120 s


class _DeferredWorld(distributed.LocalCommunicator):
    """Two pretend ranks holding the same values: an all-reduce(mean) is the identity, but
    it reads its operand only when waited for, as an in-flight MPI collective may. A target
    that let another kernel overwrite the operand before the wait would get wrong numbers."""

    size = 2

    def start_all_reduce(self, send, recv, op):
        world = self

        class Later(distributed.Request):
            def wait(self):
                world.waits += 1
                np.copyto(recv, send)

        return Later()

    waits = 0


def _ddp_step(ddp: bool, backend: str = "numba-cpu{overlap-collectives=true}"):
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 3))
    if ddp:
        model = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=8000 / (1 << 20))
    opt = optim.SGD(model.parameters(), lr=0.1)

    @xl.jit(backend=backend)
    def step(x, y):
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return step


def test_all_reduces_start_early_and_overlap_the_backward_pass_without_corrupting_it():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 20)).astype(np.float32), rng.integers(0, 3, 16)
    plain = _ddp_step(False)
    want = [float(plain(x, y)) for _ in range(3)]
    world = _DeferredWorld()
    old = distributed.set_world(world)
    try:
        step = _ddp_step(True)
        got = [float(step(x, y)) for _ in range(3)]
        driver = step.lower(x, y).compile().source().split("# driver")[1]
    finally:
        distributed.set_world(old)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert world.waits == 3 * driver.count("start_all_reduce")
    lines = driver.splitlines()
    starts = [i for i, s in enumerate(lines) if "start_all_reduce" in s]
    waits = [i for i, s in enumerate(lines) if ".wait()" in s]
    assert len(starts) >= 2 and len(waits) == len(starts)
    # the last layer's bucket starts while earlier layers' gradients are still computed
    kernels_between = sum(1 for s in lines[starts[0]:waits[0]] if s.strip().startswith("k"))
    assert kernels_between >= 2, driver


def test_without_overlap_all_reduces_are_blocking_calls_where_their_result_is_needed():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 20)).astype(np.float32), rng.integers(0, 3, 16)
    old = distributed.set_world(_DeferredWorld())
    try:
        driver = _ddp_step(True, "numba-cpu").lower(x, y).compile().source()
    finally:
        distributed.set_world(old)
    assert "start_all_reduce" not in driver and driver.count("collectives.all_reduce(") == 2
