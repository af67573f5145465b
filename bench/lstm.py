"""W5, the LSTM training step on xl.scan: ``python bench/lstm.py [--quick]``.

W5: one LSTM layer, T=32 steps, batch 64, input 128, hidden 256; loss = mean(output^2), its
gradient and an SGD update, as one step. Peers on the same inputs: xlalite (numba-cpu),
PyTorch eager ``nn.LSTM`` (its native fused kernel), torch.compile of the same step, and
jax.jit of a ``lax.scan`` LSTM with ``value_and_grad``. Steady state alternates the peers over
rounds in one process (median per round, best round). First calls run in new processes:
xlalite with an empty and with a warm kernel cache, jax.jit and torch.compile (trace and
compile). The sequence-length check compiles and runs T=32 and T=512 with empty caches: the
traced program does not grow with T, so compile time should not either, and step time should
grow linearly. JSON goes to bench/results/lstm_w5.json, the table into bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
B, I, H, LR = 64, 128, 256, 0.01


def inputs(steps: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((steps, B, I)).astype(np.float32)


def xlalite_step(steps: int):
    import xlalite as xl
    from xlalite import nn, optim

    nn.manual_seed(0)
    model = nn.LSTM(I, H)
    opt = optim.SGD(model.parameters(), lr=LR)

    @xl.jit
    def step(x):
        out, _ = model(x)
        loss = (out ** 2.0).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    x = inputs(steps)
    return lambda: step(x)


def torch_step(steps: int, compiled: bool = False):
    import torch

    torch.manual_seed(0)
    x = torch.from_numpy(inputs(steps))
    model = torch.nn.LSTM(I, H)
    opt = torch.optim.SGD(model.parameters(), lr=LR)

    def step():
        opt.zero_grad()
        loss = (model(x)[0] ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return torch.compile(step) if compiled else step


def jax_step(steps: int):
    import jax
    import jax.numpy as jnp

    k = jax.random.split(jax.random.PRNGKey(0), 4)
    bound = 1 / np.sqrt(H)
    params = {"wi": jax.random.uniform(k[0], (4 * H, I), minval=-bound, maxval=bound),
              "wh": jax.random.uniform(k[1], (4 * H, H), minval=-bound, maxval=bound),
              "bi": jax.random.uniform(k[2], (4 * H,), minval=-bound, maxval=bound),
              "bh": jax.random.uniform(k[3], (4 * H,), minval=-bound, maxval=bound)}

    def loss_fn(p, x):
        xw = x @ p["wi"].T + p["bi"] + p["bh"]  # the input projection of every step at once

        def cell(carry, xw_t):
            h, c = carry
            i, f, g, o = jnp.split(xw_t + h @ p["wh"].T, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((x.shape[1], H), x.dtype)
        _, out = jax.lax.scan(cell, (zeros, zeros), xw)
        return jnp.mean(out ** 2)

    @jax.jit
    def update(p, x):
        loss, g = jax.value_and_grad(loss_fn)(p, x)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g), loss

    x = jnp.asarray(inputs(steps))
    state = {"p": params}

    def step():
        state["p"], loss = update(state["p"], x)
        return loss.block_until_ready()

    return step


PEERS = {"xlalite": xlalite_step, "pytorch eager": torch_step,
         "torch.compile": lambda t: torch_step(t, compiled=True), "jax.jit": jax_step}


def first_call(peer: str, steps: int, cache: str | None) -> dict:
    """Build and run the first step in a new process; seconds to import, build, first step."""
    env = dict(os.environ)
    if cache is not None:
        env["XLALITE_CACHE_DIR"] = cache
    code = (f"import time; t0 = time.perf_counter(); import sys; sys.path.insert(0, {str(HERE)!r})\n"
            f"import lstm; f = lstm.PEERS[{peer!r}]({steps}); t1 = time.perf_counter(); f()\n"
            "t2 = time.perf_counter(); f(); t3 = time.perf_counter()\n"
            "c = -1.0\n"
            "if 'xlalite' in sys.modules:\n"
            "    c = (sys.modules['xlalite'].cache_info().get('last_compile') or {}).get('total', -1)\n"
            "print(t1 - t0, t2 - t1, t3 - t2, c)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=1800)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    build, first, second, compile_s = map(float, r.stdout.split()[-4:])
    out = {"import_build_s": build, "first_step_s": first, "second_step_s": second}
    if compile_s >= 0:  # xlalite's own profile: trace, passes, codegen, kernels
        out["compile_s"] = compile_s
    return out


def steady(peers: dict, rounds: int, iters: int) -> dict[str, float]:
    """Median ms per step of each peer per round, alternating peers; the best round."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, fn in peers.items():
            times = []
            for _ in range(iters):
                start = time.perf_counter()
                fn()
                times.append((time.perf_counter() - start) * 1e3)
            best[name] = min(best.get(name, float("inf")), float(np.median(times)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no T=512 check")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rounds, iters = (2, 3) if args.quick else (args.rounds, 5)
    sys.path.insert(0, str(HERE))
    result: dict = {"workload": f"W5 LSTM T32 B{B} I{I} H{H} fwd+bwd+SGD", "rounds": rounds,
                    "iters": iters, "cpus": os.cpu_count()}
    peers, skipped = {}, {}
    for name, make in PEERS.items():
        try:
            fn = make(32)
            fn()  # compile / warm up
            peers[name] = fn
        except Exception as e:  # a peer that is not installed or cannot compile here
            skipped[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    result["steady_ms"] = steady(peers, rounds, iters)
    result["skipped"] = skipped
    first: dict = {}
    with tempfile.TemporaryDirectory() as cache:
        first["xlalite cold cache"] = first_call("xlalite", 32, cache)
        first["xlalite warm cache"] = first_call("xlalite", 32, cache)
    for name in peers:
        if name != "xlalite":
            first[name] = first_call(name, 32, None)
    result["first_call"] = first
    if not args.quick:
        lengths = {}
        for steps in (32, 512):
            with tempfile.TemporaryDirectory() as cache:
                lengths[steps] = first_call("xlalite", steps, cache)
        result["sequence_length"] = lengths
    out = HERE / "results" / "lstm_w5.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    table = render(result)
    print(table)
    readme = HERE / "README.md"
    text = readme.read_text()
    if "<!-- LSTM -->" in text:
        head, _, rest = text.partition("<!-- LSTM -->")
        readme.write_text(head + "<!-- LSTM -->\n" + table + "\n<!-- /LSTM -->"
                          + rest.partition("<!-- /LSTM -->")[2])


def render(r: dict) -> str:
    ms = r["steady_ms"]
    ours = ms.get("xlalite")
    rows = ["| peer | step (ms) | xlalite vs peer | first step, new process (s) |",
            "|---|---|---|---|"]
    for name, value in ms.items():
        ratio = f"{value / ours:.2f}×" if ours else "-"
        key = "xlalite cold cache" if name == "xlalite" else name
        f = r["first_call"].get(key, {})
        first = f"{f['import_build_s'] + f['first_step_s']:.2f}" if "first_step_s" in f else "-"
        if name == "xlalite":
            w = r["first_call"].get("xlalite warm cache", {})
            if "first_step_s" in w:
                first += f" cold, {w['import_build_s'] + w['first_step_s']:.2f} warm cache"
        rows.append(f"| {name} | {value:.1f} | {ratio} | {first} |")
    notes = [f"{r['workload']}; best of {r['rounds']} alternated rounds of {r['iters']} steps "
             "(median per round). Ratio above 1× means xlalite's step is faster. First step: "
             "import, model and jit construction, trace, compile and one step."]
    for name, why in r.get("skipped", {}).items():
        notes.append(f"{name} skipped: {why}.")
    seq = r.get("sequence_length")
    if seq:
        a, b = seq.get("32", seq.get(32, {})), seq.get("512", seq.get(512, {}))
        if "first_step_s" in a and "first_step_s" in b:
            ca, cb = (d.get("compile_s", d["first_step_s"] - d["second_step_s"]) for d in (a, b))
            notes.append(f"Sequence length (empty caches): compile (xlalite's profile) "
                         f"T=32 {ca:.2f} s, T=512 {cb:.2f} s ({cb / ca:.2f}×); step T=32 "
                         f"{a['second_step_s'] * 1e3:.0f} ms, T=512 {b['second_step_s'] * 1e3:.0f} "
                         f"ms ({b['second_step_s'] / a['second_step_s']:.1f}× for 16× the steps).")
    return "\n".join(rows) + "\n\n" + " ".join(notes)


if __name__ == "__main__":
    main()
