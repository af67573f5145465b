"""The example third-party backend (examples/numpy_backend), installed by `make test` as its
own package and found through the `xlalite.backends` entry point, end to end."""

from importlib.metadata import entry_points

import numpy as np
from hypothesis import given, settings

import xlalite as xl
from tests.backend_check import assert_matches_interpreter
from tests.programs import programs, random_inputs
from xlalite.backends import available_backends, get_backend


def test_plugin_is_installed_and_registered_by_entry_point():
    names = {ep.name for ep in entry_points(group="xlalite.backends")}
    assert "numpy-source" in names, "run `make test` (it installs examples/numpy_backend)"
    assert "numpy-source" in available_backends()
    assert get_backend("numpy-source").__class__.__module__ == "xlalite_numpy_backend"


def test_selected_by_name_from_jit():
    def softmax(x):
        e = xl.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    x = np.random.default_rng(0).standard_normal((4, 7))
    got = xl.jit(softmax, backend="numpy-source")(x)
    want = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(got, want / want.sum(1, keepdims=True), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(programs())
def test_random_programs_match_the_interpreter(module):
    assert_matches_interpreter(module, random_inputs(module), backend="numpy-source")


def test_emits_one_numpy_function_per_fused_group(capsys):
    from xlalite.tools.opt import main

    assert main(["examples/ir/softmax.xir", "-t", "numpy-source", "--emit", "source"]) == 0
    assert capsys.readouterr().out.count("def step_") == 3


def test_its_options_come_from_its_dataclass_fields(capsys):
    from xlalite.tools.opt import main

    assert get_backend("numpy-source{fuse=false}") != get_backend("numpy-source")
    assert main(["examples/ir/softmax.xir", "-t", "numpy-source{fuse=false}", "--emit", "source"]) == 0
    assert capsys.readouterr().out.count("def step_") == 7  # one per op: nothing fused
    assert main(["--list-targets"]) == 0
    assert "fuse=bool (default: true)" in capsys.readouterr().out
