"""Runtime: the Executable contract shared by all backends, and device arrays."""

from xlalite.runtime.device import DeviceArray
from xlalite.runtime.executable import ArgumentError, Executable, check_arguments

__all__ = ["ArgumentError", "DeviceArray", "Executable", "check_arguments"]
