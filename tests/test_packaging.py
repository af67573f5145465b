"""Packaging: folder mapping of passes/ and backends/, and backend registry errors."""

import importlib.util
from pathlib import Path

import pytest

import xlalite
import xlalite.backends
import xlalite.passes
from xlalite.backends import available_backends, get_backend

ROOT = Path(__file__).resolve().parent.parent


def test_passes_and_backends_import_from_top_level_folders():
    assert Path(xlalite.passes.__file__).resolve().parent == ROOT / "passes"
    assert Path(xlalite.backends.__file__).resolve().parent == ROOT / "backends"


def test_no_top_level_passes_or_backends_modules_are_installed(monkeypatch):
    import sys

    # Outside the repository root, the names must not resolve to anything installed.
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT])
    for name in ("passes", "backends"):
        assert importlib.util.find_spec(name) is None, f"'{name}' leaked into site-packages"


def test_interpreter_is_registered_and_unknown_backend_lists_installed():
    assert "interpreter" in available_backends()
    with pytest.raises(ValueError, match=r"unknown backend 'interpretr'; did you mean "
                                         r"'interpreter'\? \(installed: .*interpreter"):
        get_backend("interpretr")
    with pytest.raises(ValueError, match="unknown backend"):
        xlalite.jit(lambda x: x, backend="tpu")(1.0)
