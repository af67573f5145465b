"""Compile kernels on two cores: a helper process fills the disk cache while this one works.

Numba compiles one function at a time under a process-wide lock, so the kernels of a new
program (15 for an MLP training step, 27 for LeNet-5) compile one after another. When
several new kernels are due, :func:`compile_jobs` shares them with a helper process —
started on first use and kept for later compilations — which compiles its share into the
kernel cache exactly as this process would (``cache.load_module`` checks each kernel's text
against its name, ``cache.compile_for`` records the manifest), while this process compiles
the rest. It then loads the helper's share from the disk cache in milliseconds.

Anything that goes wrong with the helper (it cannot start, dies, times out, reports an
error) only means this process compiles those kernels itself. ``XLALITE_COMPILE_WORKERS=0``
turns the helper off.

The helper speaks JSON lines on its stdin/stdout: a job is the kernel module's path and the
argument types of each signature (``["array", "<f4", 2]`` or ``["int", "<i8"]``); the reply
is ``{"ok": true}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import warnings
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from xlalite.backends.numba_common.cache import compile_for, load_module

#: seconds the helper may still take once this process has compiled its own share
TIMEOUT = 600.0


def _spec(value: object) -> list[object]:
    if isinstance(value, np.ndarray):
        return ["array", value.dtype.str, value.ndim]
    return ["int", np.asarray(value).dtype.str]


def _value(spec: Sequence[Any]) -> object:
    if spec[0] == "array":
        return np.empty((1,) * int(spec[2]), np.dtype(spec[1]))
    return np.dtype(spec[1]).type(0)


class _Helper:
    """The helper process and its pipes (Popen raises OSError when it cannot start)."""

    def __init__(self) -> None:
        env = dict(os.environ, XLALITE_COMPILE_WORKERS="0")  # a helper never spawns one
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xlalite.backends.numba_common.workers"], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            bufsize=1)

    def send(self, job: dict[str, object]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> str:
        """The error of the next reply ('' for success); OSError if the helper is gone."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise OSError("the compile helper exited")
        reply = json.loads(line)
        return "" if reply.get("ok") else str(reply.get("error"))

    def close(self) -> None:
        """Stop the helper (it also ends by itself when this process closes its stdin)."""
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self.proc.kill()
        self.proc.wait()


_HELPER: _Helper | None = None
_HELPER_LOCK = threading.Lock()


def _helper() -> _Helper | None:
    global _HELPER
    if _HELPER is None or _HELPER.proc.poll() is not None:
        try:
            _HELPER = _Helper()
        except OSError:
            return None
        atexit.register(_HELPER.close)
    return _HELPER


def enabled() -> bool:
    return os.environ.get("XLALITE_COMPILE_WORKERS", "1") != "0" and (os.cpu_count() or 1) > 1


def compile_jobs(jobs: Sequence[tuple[Any, list[object]]]) -> None:
    """``compile_for(kernel, arrays)`` for every job, new kernels shared with the helper.

    A kernel is new when its module was written to the cache in this process (``fresh``):
    nothing of it can be in Numba's disk cache. New kernels wait in one queue, biggest
    (by source size) first; this process takes from the big end, a thread feeding the helper
    from the small end (the helper starts up meanwhile), one kernel (with all its
    signatures) at a time, so both cores stay busy until the queue is empty.
    """
    kernels = {id(k): k for k, _ in jobs}
    fresh: dict[int, list[list[object]]] = {}
    for kernel, arrays in jobs:
        if getattr(kernel, "xlalite_fresh", False):
            fresh.setdefault(id(kernel), []).append(arrays)
        else:
            compile_for(kernel, arrays)  # in memory or in Numba's cache: a load
    queue = deque(sorted(fresh, key=lambda i: -kernels[i].xlalite_path.stat().st_size))
    lock = threading.Lock()
    helped: list[int] = []
    failed: list[str] = []

    def take(big_end: bool) -> int | None:
        with lock:
            return (queue.popleft() if big_end else queue.pop()) if queue else None

    def feed(helper: _Helper) -> None:
        while (i := take(big_end=False)) is not None:
            try:
                path = kernels[i].xlalite_path  # .../<cache dir>/kernels/xlk_<key>.py
                helper.send({"path": str(path), "cache_dir": str(path.parent.parent),
                             "sigs": [[_spec(a) for a in arrays] for arrays in fresh[i]]})
                error = helper.receive()
            except (OSError, ValueError) as e:
                error = f"{type(e).__name__}: {e}"
            if error:
                failed.append(error)
                with lock:
                    queue.append(i)  # this process compiles it
                return
            helped.append(i)

    thread = None
    if len(queue) >= 2 and enabled():
        with _HELPER_LOCK:
            helper = _helper()
        if helper is not None:
            thread = threading.Thread(target=feed, args=(helper,), daemon=True)
            thread.start()
    while (i := take(big_end=True)) is not None:
        for arrays in fresh[i]:
            compile_for(kernels[i], arrays)
    if thread is not None:
        thread.join(TIMEOUT)
        if thread.is_alive() or failed:
            if _HELPER is not None:
                _HELPER.close()
            warnings.warn("xlalite: the compile helper failed ("
                          + (failed[0] if failed else "timed out") + "); compiling here",
                          stacklevel=3)
        while (i := take(big_end=True)) is not None:  # what the helper gave back
            for arrays in fresh[i]:
                compile_for(kernels[i], arrays)
    for i in helped:  # the helper's share: loads from the disk cache
        for arrays in fresh[i]:
            compile_for(kernels[i], arrays)
    for i in fresh:
        kernels[i].xlalite_fresh = False


def main() -> None:
    """The helper's loop (``python -m xlalite.backends.numba_common.workers``)."""
    from pathlib import Path

    import numba

    numba.get_num_threads()  # as NumbaExecutable: the threading layer before any linking
    for line in sys.stdin:
        try:
            job = json.loads(line)
            os.environ["XLALITE_CACHE_DIR"] = job["cache_dir"]  # the parent's, at this job
            text = Path(job["path"]).read_text(encoding="utf-8")
            kernel = load_module(text)
            for sig in job["sigs"]:
                compile_for(kernel, [_value(s) for s in sig])
            reply: dict[str, object] = {"ok": True}
        except Exception as e:  # reported to the parent, which compiles the kernel itself
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
