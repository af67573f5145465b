"""The kernel cache trusts nothing it did not check (issue 14, docs/security.md).

Each test plants or breaks something in the cache directory between two processes, then
checks that the second process computes the right answer, runs nothing planted, and says so
instead of raising a traceback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import xlalite as xl
from xlalite.backends.numba_common import cache

PROGRAM = """
import json, numpy as np, xlalite as xl
x = np.linspace(-1, 1, 8, dtype=np.float32)
f = xl.jit(lambda x: xl.exp(x) * 2.0 + 1.0)
g = xl.jit(lambda x: xl.tanh(x) - 3.0)
print(json.dumps({"f": f(x).tolist(), "g": g(x).tolist(), "info": xl.cache_info()}))
"""
X = np.linspace(-1, 1, 8, dtype=np.float32)
WANT = {"f": np.exp(X) * 2 + 1, "g": np.tanh(X) - 3}


def run(cache_dir: Path) -> tuple[dict, str]:
    r = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                       env={**os.environ, "XLALITE_CACHE_DIR": str(cache_dir)}, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for name, want in WANT.items():
        np.testing.assert_allclose(out[name], want, rtol=1e-5, err_msg=name)
    return out["info"], r.stderr


def kernel_files(cache_dir: Path, pattern: str) -> list[Path]:
    return sorted((cache_dir / "kernels" / "__pycache__").glob(pattern))


class Evil:
    """Unpickling it creates the marker file: proof that a planted pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_planted_pickle_in_numbas_index_is_never_loaded(tmp_path):
    run(tmp_path)
    marker = tmp_path / "pwned"
    indexes = kernel_files(tmp_path, "xlk_*.nbi")
    assert indexes, "numba wrote no index: nothing to plant into"
    for index in indexes:
        index.write_bytes(pickle.dumps(Evil(marker)))
    info, err = run(tmp_path)
    assert not marker.exists()
    assert "do not match their manifest" in err and info["rebuilt"] >= 1


def test_machine_code_swapped_between_kernels_is_not_used(tmp_path):
    run(tmp_path)
    codes = kernel_files(tmp_path, "xlk_*.nbc")
    assert len(codes) >= 2
    a, b = codes[0].read_bytes(), codes[1].read_bytes()
    codes[0].write_bytes(b)
    codes[1].write_bytes(a)
    run(tmp_path)  # the right answers: the swapped files were deleted, not run
    run(tmp_path)  # and stay right


def test_a_planted_pyc_beside_a_matching_kernel_never_runs(tmp_path):
    run(tmp_path)
    marker = tmp_path / "pwned"
    evil = compile(f"open({str(marker)!r}, 'w')\n", "evil", "exec")
    for source in (tmp_path / "kernels").glob("xlk_*.py"):
        st = source.stat()
        pyc = Path(importlib.util.cache_from_source(str(source)))
        pyc.parent.mkdir(exist_ok=True)
        from importlib._bootstrap_external import _code_to_timestamp_pyc  # type: ignore

        pyc.write_bytes(_code_to_timestamp_pyc(evil, int(st.st_mtime), st.st_size))
    run(tmp_path)
    assert not marker.exists()


def test_no_bytecode_is_written_and_corrupt_bytecode_is_ignored(tmp_path):
    from importlib._bootstrap_external import _code_to_timestamp_pyc  # type: ignore

    run(tmp_path)
    assert not list((tmp_path / "kernels").rglob("*.pyc"))
    for source in (tmp_path / "kernels").glob("xlk_*.py"):
        st = source.stat()
        pyc = Path(importlib.util.cache_from_source(str(source)))
        pyc.parent.mkdir(exist_ok=True)
        whole = _code_to_timestamp_pyc(compile("x = 1", "x", "exec"), int(st.st_mtime), st.st_size)
        pyc.write_bytes(whole[:20])  # a valid header, then the file ends
    run(tmp_path)  # once an EOFError out of the jit call


def test_a_folder_where_a_kernel_file_should_be_is_rebuilt(tmp_path):
    run(tmp_path)
    for source in (tmp_path / "kernels").glob("xlk_*.py"):
        source.unlink()
        source.mkdir()
    info, err = run(tmp_path)
    assert "was rebuilt" in err and info["rebuilt"] >= 2


def test_the_cache_dir_is_private_and_others_writable_ones_are_refused(tmp_path, monkeypatch):
    root = tmp_path / "fresh"
    monkeypatch.setenv("XLALITE_CACHE_DIR", str(root))
    assert cache.kernels_dir() == root / "kernels"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    os.chmod(root, 0o777)
    with pytest.raises(cache.CacheError, match="can be written by other users"):
        cache.kernels_dir()
    file = tmp_path / "a-file"
    file.write_text("")
    monkeypatch.setenv("XLALITE_CACHE_DIR", str(file))
    with pytest.raises(cache.CacheError, match="is not a directory"):
        cache.kernels_dir()


def test_threads_calling_one_function_get_their_own_answers():
    def f(x):  # products and reductions: intermediates live in the executable's arena
        y = (x @ x) * 0.5
        z = (y @ x).sum(axis=1) + y.sum(axis=0)
        return xl.tanh(z * 1e-3)

    f = xl.jit(f)
    inputs = [np.full((192, 192), 0.01 * (k + 1), np.float32) for k in range(4)]
    wants = [np.asarray(f(x)).copy() for x in inputs]
    results: dict[int, list[np.ndarray]] = {k: [] for k in range(4)}

    def work(k: int) -> None:
        for _ in range(40):
            results[k].append(f(inputs[k]).copy())

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        bad = sum(not np.allclose(r, wants[k], rtol=1e-6) for r in results[k])
        assert bad == 0, f"thread {k}: {bad} of 40 results were another thread's"


def test_threads_compiling_the_same_new_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("XLALITE_CACHE_DIR", str(tmp_path))
    errors: list[BaseException] = []
    outs: list[np.ndarray] = []

    def work() -> None:
        try:  # each thread traces its own function: the same kernel text, compiled at once
            outs.append(xl.jit(lambda x: xl.exp(x) - 0.25)(X))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(outs) == 4 and all(np.allclose(o, np.exp(X) - 0.25, rtol=1e-6) for o in outs)
