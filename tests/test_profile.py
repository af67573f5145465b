"""The compile profile: where a compilation spent its time, for users and for tuning."""

import numpy as np

import xlalite as xl
from xlalite.runtime import profile


def _step(x, w):
    return xl.tanh(x @ w).sum()


def test_profile_names_every_phase_pass_and_kernel():
    f = xl.jit(_step)
    x, w = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32)
    f(x, w)
    last = xl.cache_info()["last_compile"]
    assert last["function"] == "_step"
    assert set(last["phases"]) == {"trace", "verify", "passes", "codegen", "load kernels"}
    assert {"legalize", "fuse", "plan-memory"} <= set(last["passes"])
    assert last["kernels"] and all(k["name"].startswith("xlk_") for k in last["kernels"])
    for k in last["kernels"]:
        assert k["source"] in ("compiled", "numba cache", "memory")
        assert 0 <= k["typing"] + k["lowering"] <= k["total"] + 1e-3
    assert last["total"] >= sum(last["phases"].values()) - 1e-3

    again = xl.jit(_step)  # a new jit of the same program: kernels come from this process
    again(x, w)
    assert {k["source"] for k in xl.cache_info()["last_compile"]["kernels"]} == {"memory"}


def test_xlalite_log_compile_prints_the_profile(monkeypatch, capsys):
    monkeypatch.setenv("XLALITE_LOG", "compile")
    xl.jit(lambda x: xl.exp(x) * 3.0)(np.ones(7, np.float32))
    err = capsys.readouterr().err
    assert err.startswith("compile @") and "passes" in err and "kernel" in err and "source" in err


def test_phases_outside_a_compilation_are_ignored_and_nesting_keeps_each_profile():
    with profile.phase("codegen"):
        pass  # no active profile: nothing recorded, nothing raised
    with profile.compiling("outer") as outer:
        with profile.compiling("inner") as inner:
            with profile.phase("passes"):
                pass
        with profile.phase("codegen"):
            pass
    assert "passes" in inner.phases and "passes" not in outer.phases
    assert "codegen" in outer.phases and profile.last() is outer


def test_a_new_batch_size_of_a_training_step_compiles_only_what_it_says_why():
    """Kernels take shapes as arguments, so a new batch size of an MLP step reuses them; the
    one it compiles (a mean's 1/N is a literal) is reported with the literal that differs."""
    from xlalite import nn, optim

    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 4))
    opt = optim.SGD(model.parameters(), lr=0.1)

    @xl.jit
    def step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    for batch in (32, 24):
        step(rng.standard_normal((batch, 20)).astype(np.float32),
             rng.integers(0, 4, batch).astype(np.int32))
    new = [k for k in xl.cache_info()["last_compile"]["kernels"] if k["source"] != "memory"]
    assert len(new) <= 1, new
    # (the kernel it differs from may be another test's, with another batch size)
    assert all(k["why"].startswith("as xlk_") and "-> 24.0" in k["why"] for k in new), new
