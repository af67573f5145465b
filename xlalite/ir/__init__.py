"""The xlalite SSA tensor IR: types, core classes, builder, text format and verifier."""

from xlalite.ir.attributes import AttrError, DenseElements
from xlalite.ir.builder import Builder, finish, new_function
from xlalite.ir.core import RETURN, Block, Function, Module, Op, Region, Use, Value
from xlalite.ir.diagnostics import Diagnostic, Location, XirError
from xlalite.ir.parser import parse_module
from xlalite.ir.printer import print_function, print_module
from xlalite.ir.types import DType, TensorType
from xlalite.ir.verifier import collect_diagnostics, verify

__all__ = [
    "RETURN", "AttrError", "Block", "Builder", "DType", "DenseElements", "Diagnostic",
    "Function", "Location", "Module", "Op", "Region", "TensorType", "Use", "Value",
    "XirError", "collect_diagnostics", "finish", "new_function", "parse_module",
    "print_function", "print_module", "verify",
]
