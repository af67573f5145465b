"""A fuzz campaign through xlalite-opt as users run it: mutated `.xir` files (the registry's
examples, an MLP, hand-written fusions, planned IR, huge splats, non-finite literals, deep
nesting) through parse, verify, passes (`-p autodiff`, the target pipeline) and code
generation (`-t numba-cpu --emit source`). Counts each outcome: ok, diagnostic (exit 1 with a
located message), internal error ("this is a bug"), traceback, hang (over 10 s).

    python tests/fuzz_campaign.py [N] [SEED]
"""

from __future__ import annotations

import contextlib
import io
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_fuzz import SEEDS, mutate  # noqa: E402
from xlalite.tools.opt import main  # noqa: E402

EXTRA = [
    """func @fused(%x: f32[2,3], %b: f32[3]) -> f32[2,3] {
  %0 = "xl.fusion"(%x, %b) ({
  ^bb0(%a: f32[2,3], %c: f32[3]):
    %1 = "xl.broadcast_in_dim"(%c) {shape = [2, 3], dims = [1]} : (f32[3]) -> f32[2,3]
    %2 = "xl.add"(%a, %1) : (f32[2,3], f32[2,3]) -> f32[2,3]
    %3 = "xl.reshape"(%2) {shape = [2, 3]} : (f32[2,3]) -> f32[2,3]
    "xl.yield"(%3) : (f32[2,3]) -> ()
  }) {kind = "loop"} : (f32[2,3], f32[3]) -> f32[2,3]
  return %0
}
""",
    """func @planned(%x: f32[4], %w: f32[4]) -> f32[4] attributes {donate = [1], mem.arena_bytes = 64} {
  %0 = "xl.exp"(%x) {mem.offset = [0]} : (f32[4]) -> f32[4]
  %1 = "xl.add"(%0, %w) {mem.inplace = [1], mem.offset = [-1]} : (f32[4], f32[4]) -> f32[4]
  return %1
}
""",
    """func @splats() -> f32[] {
  %a = "xl.constant"() {value = dense<1.0> : f32[64,1048576]} : () -> f32[64,1048576]
  %b = "xl.constant"() {value = dense<2.0> : f32[1048576,64]} : () -> f32[1048576,64]
  %0 = "xl.dot_general"(%a, %b) {contract = [[1], [0]]} : (f32[64,1048576], f32[1048576,64]) -> f32[64,64]
  %1 = "xl.reduce_sum"(%0) {axes = [0, 1]} : (f32[64,64]) -> f32[]
  return %1
}
""",
    """func @nonfinite(%x: f32[4,4], %c: f32[4,4]) -> f32[4,4] {
  %i = "xl.constant"() {value = dense<inf> : f32[4,4]} : () -> f32[4,4]
  %0 = "xl.dot_general"(%x, %x) {contract = [[1], [0]]} : (f32[4,4], f32[4,4]) -> f32[4,4]
  %1 = "xl.mul"(%i, %0) : (f32[4,4], f32[4,4]) -> f32[4,4]
  %2 = "xl.add"(%c, %1) : (f32[4,4], f32[4,4]) -> f32[4,4]
  return %2
}
""",
    'func @deep(%x: f32[2]) -> f32[2] {\n  %0 = "xl.exp"(%x) {a = ' + "[" * 40 + "]" * 40
    + '} : (f32[2]) -> f32[2]\n  return %0\n}\n',
]
MODES = [[], ["-p", "autodiff"], ["-t", "numba-cpu"], ["-t", "numba-cpu", "--emit", "source"]]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def classify(text: str, mode: list[str], path: Path) -> str:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    err, out = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            rc = main([str(path), *mode])
    except Hang:
        return "hang"
    except BaseException:  # noqa: BLE001
        return "traceback"
    finally:
        signal.alarm(0)
    if "internal error" in err.getvalue():
        return "internal error"
    return "ok" if rc == 0 else "diagnostic"


def run(n: int, seed: int) -> Counter:
    rnd = random.Random(seed)
    seeds = SEEDS + EXTRA
    path = Path("/tmp") / f"xlalite_fuzz_{seed}.xir"
    counts: Counter = Counter()
    start = time.perf_counter()
    for _ in range(n):
        text = mutate(rnd.choice(seeds), rnd, rnd.randint(1, 4))
        counts[classify(text, rnd.choice(MODES), path)] += 1
    counts["seconds"] = round(time.perf_counter() - start)
    return counts


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2100
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    print(dict(run(n, seed)))
