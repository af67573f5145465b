"""The two-layer network of the TensorFlow notes, in graph mode, eagerly and under jit.

    python examples/graph_mode.py [--steps 50]

Graph mode goes the way the notes tell it: first the weights are placeholders fed from NumPy
every step; then they become variables with ``assign`` updates, which do nothing until they
are grouped and fetched (the pitfall the notes show); then an optimizer's ``minimize`` builds
the update. The same model is then trained eagerly (``backward()``) and with ``xl.jit``, and
one table compares the five.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import xlalite as xl
import xlalite.graph as xg

N, D, H = 64, 1000, 100  # batch, input/output width, hidden width (the notes' sizes)
LR = 1e-5


def problem() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((N, D), np.float32), rng.standard_normal((N, D), np.float32)
    w1, w2 = rng.standard_normal((D, H), np.float32), rng.standard_normal((H, D), np.float32)
    return x, y, w1, w2


def loss_of(x, y, w1, w2):
    h = xl.maximum(x @ w1, 0.0)
    diff = h @ w2 - y
    return xl.mean(xl.sum(diff * diff, axis=1))


def timed(steps: int, step: Callable[[], float]) -> dict:
    """Run `step` `steps` times: the first call (it compiles) and the rest's mean, in ms."""
    losses, times = [], []
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(float(step()))
        times.append(time.perf_counter() - start)
    return {"first": losses[0], "last": losses[-1], "first_ms": times[0] * 1e3,
            "step_ms": float(np.mean(times[1:])) * 1e3}


def graph_fed_weights(steps: int) -> dict:
    """Weights as placeholders: the gradients come out, NumPy applies them, they go back in."""
    x0, y0, w10, w20 = problem()
    g = xg.Graph()
    with g.as_default():
        x, y = xg.placeholder(xl.float32, (None, D), "x"), xg.placeholder(xl.float32, (None, D), "y")
        w1, w2 = xg.placeholder(xl.float32, (D, H), "w1"), xg.placeholder(xl.float32, (H, D), "w2")
        loss = loss_of(x, y, w1, w2)
        grad_w1, grad_w2 = xg.gradients(loss, [w1, w2])
    sess = xg.Session(g)
    values = {w1: w10.copy(), w2: w20.copy()}

    def step() -> float:
        out, gw1, gw2 = sess.run([loss, grad_w1, grad_w2], {x: x0, y: y0, **values})
        values[w1] = values[w1] - LR * gw1
        values[w2] = values[w2] - LR * gw2
        return out

    return timed(steps, step)


def variables_graph() -> tuple:
    """The graph with the weights as variables: its placeholders, variables and loss."""
    _, _, w10, w20 = problem()
    g = xg.Graph()
    with g.as_default():
        x, y = xg.placeholder(xl.float32, (None, D), "x"), xg.placeholder(xl.float32, (None, D), "y")
        w1, w2 = xg.Variable(w10, name="w1"), xg.Variable(w20, name="w2")
        return g, x, y, w1, w2, loss_of(x, y, w1, w2)


def train_graph(steps: int, g: xg.Graph, x: xg.Tensor, y: xg.Tensor, fetches: list) -> dict:
    x0, y0, _, _ = problem()
    sess = xg.Session(g)
    sess.run(xg.global_variables_initializer(g))
    return timed(steps, lambda: sess.run(fetches, {x: x0, y: y0})[0])


def graph_variables(steps: int, grouped: bool) -> dict:
    """Weights as variables updated by assign nodes, fetched through a group (or not)."""
    g, x, y, w1, w2, loss = variables_graph()
    with g.as_default():
        grad_w1, grad_w2 = xg.gradients(loss, [w1, w2])
        updates = xg.group(w1.assign(w1 - LR * grad_w1), w2.assign(w2 - LR * grad_w2))
    # without the group in the fetches the assigns never run
    return train_graph(steps, g, x, y, [loss, updates] if grouped else [loss])


def graph_optimizer(steps: int) -> dict:
    g, x, y, w1, w2, loss = variables_graph()
    return train_graph(steps, g, x, y, [loss, xg.train.GradientDescentOptimizer(LR).minimize(loss)])


def eager(steps: int) -> dict:
    x0, y0, w10, w20 = problem()
    w1, w2 = xl.tensor(w10, requires_grad=True), xl.tensor(w20, requires_grad=True)

    def step() -> float:
        nonlocal w1, w2
        loss = loss_of(x0, y0, w1, w2)
        loss.backward()
        w1 = xl.tensor(w1.numpy() - LR * w1.grad.numpy(), requires_grad=True)
        w2 = xl.tensor(w2.numpy() - LR * w2.grad.numpy(), requires_grad=True)
        return loss.item()

    return timed(steps, step)


def jitted(steps: int) -> dict:
    x0, y0, w10, w20 = problem()

    @xl.jit
    def update(w1, w2, x, y):
        loss, (g1, g2) = xl.value_and_grad(loss_of, argnums=(2, 3))(x, y, w1, w2)
        return loss, w1 - LR * g1, w2 - LR * g2

    params = [w10, w20]

    def step() -> float:
        loss, params[0], params[1] = update(params[0], params[1], x0, y0)
        return loss

    return timed(steps, step)


def main(steps: int = 50) -> dict[str, dict]:
    rows = {
        "graph, weights fed": graph_fed_weights(steps),
        "graph, assign not grouped": graph_variables(steps, grouped=False),
        "graph, assign grouped": graph_variables(steps, grouped=True),
        "graph, minimize": graph_optimizer(steps),
        "eager (backward)": eager(steps),
        "jit (value_and_grad)": jitted(steps),
    }
    print(f"{'mode':<28}{'first loss':>12}{'last loss':>12}{'first call':>12}{'per step':>10}")
    for name, r in rows.items():
        print(f"{name:<28}{r['first']:>12.4g}{r['last']:>12.4g}{r['first_ms']:>10.0f}ms"
              f"{r['step_ms']:>8.2f}ms")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50, help="training steps per mode (default 50)")
    main(parser.parse_args().steps)
