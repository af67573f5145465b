"""The xlalite version, importable without the package's public API (cache keys use it)."""

__version__ = "0.2.0"  # 0.2: kernel cache entries carry manifests (older ones are unused)
