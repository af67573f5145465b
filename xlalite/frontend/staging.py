"""API staging for graph mode: an API function called on a graph value records a node.

``xlalite.graph`` builds TF1-style graphs from the same functions eager and traced code call
(``xl.exp``, ``nn.functional.relu``, ``xl.scan`` ...): each module wraps its public functions
with :func:`stage_module`, and a call given a :class:`Staged` value among its arguments (up
to three levels into tuples, lists and dicts) goes to that value's ``stage`` instead of
running. Until the first graph exists, a wrapped call costs one attribute test.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from xlalite.frontend.tensor import TensorBase


class Staged(TensorBase):
    """A value of a graph under construction (``xlalite.graph``): an API function given one
    among its arguments records the call in that graph instead of running it (see
    :func:`staging`)."""

    __slots__ = ()

    def stage(self, fn: Callable, args: tuple, kwargs: dict) -> Any:
        raise NotImplementedError


class _Staging:
    on = False  # set once a Staged value exists: until then API calls pay one attribute test


_STAGING = _Staging()


def _find_staged(tree: object, depth: int = 0) -> Staged | None:
    if isinstance(tree, Staged):
        return tree
    if depth < 3 and isinstance(tree, (tuple, list, dict)):
        for item in (tree.values() if isinstance(tree, dict) else tree):
            found = _find_staged(item, depth + 1)
            if found is not None:
                return found
    return None


def staging(fn: Callable) -> Callable:
    """Wrap an API function so that, called on graph values, it becomes a graph node."""

    @functools.wraps(fn)
    def api(*args: Any, **kwargs: Any) -> Any:
        if _STAGING.on:
            found = _find_staged(args)
            if found is None:
                found = _find_staged(kwargs)
            if found is not None:
                return found.stage(fn, args, kwargs)
        return fn(*args, **kwargs)

    return api


def enable_staging() -> None:
    _STAGING.on = True


def stage_module(namespace: dict, names: Sequence[str]) -> None:
    """Wrap each named function of a module's `namespace` with :func:`staging`."""
    for name in names:
        namespace[name] = staging(namespace[name])
