"""Names the IR reserves, importable by every IR module without importing core."""

#: Terminator of a function's entry block.
RETURN = "return"
#: Terminator of blocks inside op regions (e.g. the body of ``xl.fusion``).
YIELD = "xl.yield"
TERMINATORS = frozenset({RETURN, YIELD})


def is_discardable(attr_name: str) -> bool:
    """Namespaced attributes (``mem.offset``) annotate ops for later passes and backends; the
    op declaration does not list them (like MLIR's discardable attributes)."""
    return "." in attr_name
