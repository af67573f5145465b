"""Backends (imported as ``xlalite.backends``): the interface, the registry, built-ins."""

from xlalite.backends.base import Backend, available_backends, get_backend, register_backend

__all__ = ["Backend", "available_backends", "get_backend", "register_backend"]
