"""Run under ``mpiexec -n 2`` with one argument, the failure to stage:

* ``desync``: rank 1 never joins rank 0's all_reduce; rank 0's watchdog reports it with an
  error naming the collective and the rank (and the job ends instead of hanging).
* ``raises``: rank 1 raises before the collective rank 0 waits in; the job is aborted at
  once, rank 0 does not sit out its (long) timeout.
"""

import sys
import time

import numpy as np

import xlalite as xl
from xlalite import distributed

mode = sys.argv[1]
comm = distributed.init(timeout=3.0 if mode == "desync" else 120.0)
x = np.ones(1000, np.float32)
f = xl.jit(lambda x: xl.all_reduce(x, "sum"))
f(x)  # one collective both ranks join
if comm.rank == 1:
    if mode == "raises":
        raise ValueError("rank 1 fails on purpose")
    time.sleep(8)  # desync: rank 1 skips the next collective
    sys.exit(0)
f(x)
