"""The verifier: structural and type rules every module must satisfy.

Checked, with one diagnostic per violation (all of them are collected):

* function names are unique; each body ends with exactly one ``return`` whose operand types
  match the signature;
* SSA: every operand is defined before use in the same block or an enclosing one;
* every op is registered, has the declared number of operands and well-typed attributes,
  and its result types equal what the op's shape rule infers;
* ops that take no regions have none.
"""

from __future__ import annotations

from xlalite.ir.attributes import AttrError
from xlalite.ir.core import RETURN, YIELD, Block, Function, Module, Op, Value, is_discardable
from xlalite.ir.diagnostics import UNKNOWN, Diagnostic, Location, XirError
from xlalite.ir.dialect import OPS, ShapeError


def _diag(op_or_func: Op | Function, message: str) -> Diagnostic:
    loc: Location | None = op_or_func.loc
    return Diagnostic(loc or UNKNOWN, message)


def verify_op(op: Op) -> list[Diagnostic]:
    """Registry-based checks of one op (not its operands' definitions)."""
    try:
        opdef = OPS.get(op.name)
    except KeyError as e:
        return [_diag(op, str(e.args[0]))]
    if opdef.verify_regions is not None:  # region ops: result types come from their bodies
        try:
            opdef.normalize_attrs(op.attributes)
        except AttrError as e:
            return [_diag(op, str(e))]
        return [_diag(op, msg) for msg in opdef.verify_regions(op)]
    try:
        attrs = opdef.normalize_attrs(op.attributes)
        inferred = opdef.infer_types([v.type for v in op.operands], attrs)
    except (AttrError, ShapeError) as e:
        return [_diag(op, str(e))]
    declared = op.result_types
    if tuple(declared) != inferred:
        shown = ", ".join(str(t) for t in declared) or "nothing"
        want = ", ".join(str(t) for t in inferred)
        return [_diag(op, f"'{op.name}' result type {shown} does not match {want} given by its "
                          "shape rule")]
    if op.regions and not opdef.takes_regions:
        return [_diag(op, f"'{op.name}' takes no regions")]
    return []


def _verify_block(block: Block, visible: set[Value], diags: list[Diagnostic],
                  function: Function | None) -> None:
    visible = visible | set(block.args)
    for i, op in enumerate(block.ops):
        for j, v in enumerate(op.operands):
            if v not in visible:
                diags.append(_diag(op, f"operand #{j} of '{op.name}' is used before it is defined "
                                       "(or defined outside this function)"))
        last = i == len(block.ops) - 1
        if op.name == RETURN:
            if function is None or not last:
                diags.append(_diag(op, "'return' must be the last op of a function body"))
            else:
                _verify_return(op, function, diags)
            continue
        if op.name == YIELD:
            if function is not None or not last:
                diags.append(_diag(op, f"'{YIELD}' must be the last op of a region block"))
            continue
        diags.extend(verify_op(op))
        for region in op.regions:
            for inner in region.blocks:
                _verify_block(inner, visible, diags, None)
        visible.update(op.results)


def _verify_return(op: Op, func: Function, diags: list[Diagnostic]) -> None:
    got = [v.type for v in op.operands]
    if len(got) != len(func.result_types):
        diags.append(_diag(op, f"@{func.name} returns {len(got)} values but its signature "
                               f"declares {len(func.result_types)}"))
        return
    for i, (g, want) in enumerate(zip(got, func.result_types)):
        if g != want:
            diags.append(_diag(op, f"return value #{i} has type {g} but @{func.name} declares {want}"))


def _function_attr_errors(func: Function) -> list[str]:
    """Function attributes: ``donate`` lists argument indices the callee may overwrite."""
    errors = []
    for key, value in func.attributes.items():
        if key == "donate":
            ok = isinstance(value, tuple) and all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(func.args)
                for i in value)
            if not ok:
                errors.append(f"'donate' of @{func.name} must list argument indices "
                              f"0..{len(func.args) - 1}")
        elif not is_discardable(key):
            errors.append(f"unknown function attribute '{key}' (known: donate; namespaced "
                          "names like 'mem.arena_bytes' are free-form)")
    return errors


def collect_diagnostics(module: Module) -> list[Diagnostic]:
    """All verifier diagnostics of `module`, in program order (empty when valid)."""
    diags: list[Diagnostic] = []
    seen: set[str] = set()
    for func in module.functions:
        if func.name in seen:
            diags.append(_diag(func, f"redefinition of function @{func.name}"))
        seen.add(func.name)
        term = func.body.terminator
        if term is None or term.name != RETURN:
            diags.append(_diag(func, f"function @{func.name} must end with 'return'"))
        _verify_block(func.body, set(), diags, func)
        diags.extend(_diag(func, m) for m in _function_attr_errors(func))
    return diags


def verify(module: Module) -> Module:
    """Raise XirError listing every violation; return the module when it is valid."""
    diags = collect_diagnostics(module)
    if diags:
        raise XirError(diags)
    return module
