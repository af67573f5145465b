"""GPU benchmarks for the numba-cuda backend: ``python bench/gpu.py [--quick]``.

W1 (gelu), W2 (row softmax), W3 (MLP step) and W4 (LeNet step) of bench/README.md on the
device, inputs uploaded once (DeviceArrays), each timed to completion (the device is
synchronized), medians of repeated runs; PyTorch on CUDA in the same process when it is
installed with CUDA. Results go to ``bench/results/gpu_<device>.json`` with the device named.
``--quick`` runs small sizes, which also works on Numba's CUDA simulator
(NUMBA_ENABLE_CUDASIM=1) to check the script itself; the simulator runs W1 and W2 only.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def timed(fn, repeat: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import numba
    import train_workloads as T
    import workloads as W
    from numba import cuda

    import xlalite as xl
    from xlalite.runtime import DeviceArray

    if not cuda.is_available():
        raise SystemExit("no CUDA device (NUMBA_ENABLE_CUDASIM=1 runs --quick on the simulator)")
    raw = getattr(cuda.get_current_device(), "name", b"CUDA simulator")
    name = raw.decode() if isinstance(raw, bytes) else str(raw)
    repeat, scale = (3, 64) if args.quick else (20, 1)
    simulated = bool(numba.config.ENABLE_CUDASIM)
    try:
        import torch
        torch_cuda = torch.cuda.is_available()
    except ImportError:
        torch_cuda = False
    rows = []
    for label, inputs, fn, torch_fn in (
            ("W1 gelu_tanh(x*a+b)", W.w1_inputs(4096 // scale), W.w1_xlalite, W.w1_torch),
            ("W2 row softmax", W.w2_inputs(*((16, 128) if args.quick else (8192, 1024))), W.w2_xlalite, None)):
        f = xl.jit(fn, backend="numba-cuda")
        dev = [DeviceArray(cuda.to_device(a)) for a in inputs]
        ref = W.w1_numpy(*inputs) if label.startswith("W1") else W.w2_numpy(*inputs)
        np.testing.assert_allclose(np.asarray(f(*dev)), ref, rtol=2e-4, atol=2e-5)
        row = {"workload": f"{label} f32{list(inputs[0].shape)}",
               "xlalite_ms": timed(lambda f=f, dev=dev: f(*dev), repeat, cuda.synchronize)}
        if torch_cuda and torch_fn is not None:
            tin = [torch.from_numpy(a).cuda() for a in inputs]
            run = torch_fn(torch)
            row["pytorch_cuda_ms"] = timed(lambda run=run, tin=tin: run(*tin), repeat,
                                           torch.cuda.synchronize)
        rows.append(row)
    for workload in ("W3", "W4"):
        if simulated:  # a simulated thread per weight element takes hours here; the
            continue   # simulator suite (tests/test_numba_cuda.py) covers training steps
        step = T.xlalite_step(workload, backend="numba-cuda", scale=scale)
        rows.append({"workload": T.NAMES[workload] + (f" (batch / {scale})" if scale > 1 else ""),
                     "xlalite_ms": timed(step, repeat, cuda.synchronize)})
    result = {"device": name, "date": time.strftime("%Y-%m-%d"), "quick": args.quick, "rows": rows}
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "device"
    out = HERE / "results" / f"gpu_{slug}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    for row in rows:
        print(row)
    print(f"device: {name}; written {out}")


if __name__ == "__main__":
    main()
