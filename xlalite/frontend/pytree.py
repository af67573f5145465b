"""Flatten nested tuples/lists/dicts of arrays into leaves and back (like jax.tree_util)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree: container kind, dict keys, and child structures."""

    kind: str  # "leaf", "none", "tuple", "list" or "dict"
    keys: tuple = ()
    children: tuple[TreeDef, ...] = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)


LEAF = TreeDef("leaf")


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Leaves in a deterministic order (dicts by sorted key) and the structure."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> TreeDef:
    if tree is None:
        return TreeDef("none")
    if isinstance(tree, (tuple, list)):
        kind = "tuple" if isinstance(tree, tuple) else "list"
        return TreeDef(kind, (), tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, dict):
        keys = tuple(sorted(tree))
        return TreeDef("dict", keys, tuple(_flatten(tree[k], leaves) for k in keys))
    leaves.append(tree)
    return LEAF


def unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """Rebuild the structure `treedef` from `leaves` (inverse of flatten)."""
    it = iter(leaves)
    out = _unflatten(treedef, it)
    if next(it, None) is not None:
        raise ValueError("too many leaves for the tree structure")
    return out


def _unflatten(td: TreeDef, it) -> Any:
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    children = [_unflatten(c, it) for c in td.children]
    if td.kind == "dict":
        return dict(zip(td.keys, children))
    return tuple(children) if td.kind == "tuple" else children


def describe(td: TreeDef) -> str:
    """A short picture of a structure for error messages: ``(*, [*, *], {'w': *})``."""
    if td.kind == "leaf":
        return "*"
    if td.kind == "none":
        return "None"
    parts = [describe(c) for c in td.children]
    if td.kind == "dict":
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(td.keys, parts)) + "}"
    if td.kind == "tuple":
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    return "[" + ", ".join(parts) + "]"
