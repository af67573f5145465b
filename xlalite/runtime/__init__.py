"""Runtime: the Executable contract shared by all backends."""

from xlalite.runtime.executable import ArgumentError, Executable, check_arguments

__all__ = ["ArgumentError", "Executable", "check_arguments"]
