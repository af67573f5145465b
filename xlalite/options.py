"""The ``name{key=value ...}`` spec syntax shared by pass pipelines and targets.

``canonicalize,fuse{max-ops=32}`` names passes; ``numba-cpu{exact-math=true parallel=false}``
names a configured target. Options are the fields of a dataclass, spelled in kebab-case;
values are read by the field's annotation (bool, int, float, str, a comma list for tuples, and
unions of those, tried in that order). Errors say what was expected and suggest close names.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any


class SpecError(ValueError):
    """A malformed spec, an unknown name, or an unknown or ill-typed option."""


def closest(word: str, options: Sequence[str]) -> str:
    """'; did you mean ...?' for the close matches of `word` (empty when there are none)."""
    close = difflib.get_close_matches(word, list(options), n=3)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def split_top(spec: str, error: type[SpecError] = SpecError) -> list[str]:
    """Split `spec` at commas outside braces."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in spec:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise error(f"unbalanced '}}' in {spec!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise error(f"unclosed '{{' in {spec!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def split_item(item: str, error: type[SpecError] = SpecError) -> tuple[str, str]:
    """``name{opts}`` -> (name, "opts"); ``name`` -> (name, "")."""
    name, brace, rest = item.partition("{")
    name = name.strip()
    if brace and not rest.endswith("}"):
        raise error(f"options of '{name}' must end with '}}'")
    return name, rest[:-1] if brace else ""


def option_fields(cls: type) -> dict[str, dataclasses.Field]:
    """The option fields of dataclass `cls`, keyed by their kebab-case spelling."""
    return {f.name.replace("_", "-"): f for f in dataclasses.fields(cls) if f.init}


def convert(text: str, annotation: object, where: str, error: type[SpecError] = SpecError) -> object:
    """`text` read as a value of `annotation`."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = sorted(typing.get_args(annotation), key=lambda t: t is str)  # str last
        for member in members:
            try:
                return convert(text, member, where, error)
            except SpecError:
                continue
        kinds = " or ".join(getattr(m, "__name__", str(m)) for m in members)
        raise error(f"{where}: cannot read {text!r} as {kinds}")
    target = origin or annotation
    try:
        if target is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if target is tuple:
            return tuple(int(t) for t in text.split(",") if t.strip())
        if target in (int, float, str):
            return target(text)
    except ValueError:
        pass
    kind = getattr(target, "__name__", str(target))
    raise error(f"{where}: cannot read {text!r} as {kind}")


def parse_options(cls: type, name: str, text: str, what: str,
                  error: type[SpecError] = SpecError) -> dict[str, Any]:
    """Constructor keywords for `cls` from ``key=value`` pairs separated by spaces; `what`
    names the thing in messages (``pass 'fuse'``, ``target 'numba-cpu'``)."""
    fields = option_fields(cls)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for opt in text.split():
        key, eq, value = opt.partition("=")
        if key not in fields:
            valid = ", ".join(fields) or "none"
            raise error(f"{what} has no option '{key}'{closest(key, list(fields))} "
                        f"(options: {valid})")
        if not eq:
            raise error(f"option '{key}' of '{name}' needs a value: {key}=...")
        f = fields[key]
        kwargs[f.name] = convert(value, hints[f.name], f"option '{key}' of '{name}'", error)
    return kwargs


def format_value(value: object) -> str:
    """A value as spec text (the inverse of `convert`)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def spec_of(obj: object, name: str) -> str:
    """`obj` (a dataclass instance) as ``name{key=value ...}``, options that differ from
    their defaults only."""
    opts = []
    for key, f in option_fields(type(obj)).items():
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default and type(value) is type(f.default):
            continue
        opts.append(f"{key}={format_value(value)}")
    return name + ("{" + " ".join(opts) + "}" if opts else "")
