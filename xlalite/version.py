"""The xlalite version, importable without the package's public API (cache keys use it)."""

__version__ = "0.1.0"
