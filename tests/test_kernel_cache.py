"""numba-cpu's kernel cache across processes: a second process loads, a corrupt entry is
rebuilt, the CLI clears it (tampering by an attacker: test_cache_tampering.py)."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, warnings, numpy as np, xlalite as xl
    warnings.simplefilter("always")
    def gelu(x, a, b):
        y = x * a + b
        return 0.5 * y * (1.0 + xl.tanh(0.7978845608 * (y + 0.044715 * y ** 3.0)))
    x = np.linspace(-3, 3, 4096, dtype=np.float32).reshape(64, 64)
    r = xl.jit(gelu)(x, np.float32(1.5), np.float32(0.25))
    print(json.dumps({"sum": float(r.sum()), **xl.cache_info()}))
""")


def _run(cache_dir) -> tuple[dict, str]:
    env = dict(os.environ, XLALITE_CACHE_DIR=str(cache_dir))
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_second_process_loads_compiled_kernels_from_disk(tmp_path):
    cold, _ = _run(tmp_path)
    warm, _ = _run(tmp_path)
    assert cold["misses"] >= 1 and cold["compiles"] >= 1 and cold["disk_hits"] == 0
    assert warm["misses"] == 0 and warm["compiles"] == 0
    assert warm["disk_hits"] == cold["misses"] and warm["numba_cache_loads"] >= 1
    assert warm["sum"] == cold["sum"]
    # the compile profile says where each kernel came from
    assert {k["source"] for k in cold["last_compile"]["kernels"]} >= {"compiled"}
    assert {k["source"] for k in warm["last_compile"]["kernels"]} == {"numba cache"}
    assert warm["compile_seconds"] < cold["compile_seconds"]


def test_corrupt_cache_entries_are_reported_and_rebuilt(tmp_path):
    cold, _ = _run(tmp_path)
    kernels = sorted((tmp_path / "kernels").glob("xlk_*.py"))
    kernels[0].write_text(kernels[0].read_text()[:40])  # truncated source
    for nbc in (tmp_path / "kernels" / "__pycache__").glob("*.nbc"):
        nbc.write_bytes(b"garbage")  # and unreadable machine code for every kernel
    again, err = _run(tmp_path)
    assert "corrupt kernel cache entry" in err and err.count("corrupt kernel cache entry") == 1
    assert again["rebuilt"] >= 1 and again["sum"] == cold["sum"]
    healed, err = _run(tmp_path)
    assert "corrupt" not in err and "unusable" not in err and healed["rebuilt"] == 0


def test_clear_cache_command(tmp_path, monkeypatch, capsys):
    from xlalite.tools.opt import main

    _run(tmp_path)
    monkeypatch.setenv("XLALITE_CACHE_DIR", str(tmp_path))
    assert main(["--clear-cache"]) == 0
    assert not (tmp_path / "kernels").exists()
