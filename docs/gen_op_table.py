"""Regenerate the op table in docs/ir.md from the op registry.

    python docs/gen_op_table.py          # rewrite the table in place
    python docs/gen_op_table.py --check  # exit 1 if docs/ir.md is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xlalite.ops import all_ops

DOC = Path(__file__).with_name("ir.md")
BEGIN = "<!-- BEGIN GENERATED OP TABLE (docs/gen_op_table.py) -->"
END = "<!-- END GENERATED OP TABLE -->"


def op_table() -> str:
    rows = ["| op | operands | attributes | fusion kind | differentiable | summary |",
            "|---|---|---|---|---|---|"]
    for op in all_ops():
        operands = ", ".join(op.operands) + ("..." if op.variadic else "")
        attrs = ", ".join(a.name + ("" if a.required else f"={_show(a.default)}")
                          for a in op.attrs)
        diff = "yes" if op.differentiable else "no"
        rows.append(f"| `{op.name}` | {operands or '—'} | {attrs or '—'} | "
                    f"{op.fusion.name.lower()} | {diff} | {op.doc} |")
    return "\n".join(rows)


def _show(value: object) -> str:
    from xlalite.ir.printer import format_attr

    return format_attr(value).replace("|", "\\|")


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{op_table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args()
    current = DOC.read_text()
    if BEGIN not in current or END not in current:
        print(f"{DOC}: markers missing", file=sys.stderr)
        return 1
    fresh = render(current)
    if args.check:
        if fresh != current:
            print(f"{DOC} is out of date: run python docs/gen_op_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
