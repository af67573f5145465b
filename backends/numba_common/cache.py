"""The persistent kernel cache, shared by the Numba targets.

Each generated kernel module is written to ``<cache dir>/kernels/xlk_<hash>.py`` where the
hash covers the module's full text (so the IR structure, the backend options and whatever
digest of hand-written libraries the target writes into its header) and the xlalite, Numba,
llvmlite and NumPy versions. The file is imported like a normal module, so its
``@njit(cache=True)`` function is also cached by Numba next to it: a second process loads
machine code instead of compiling. A file whose contents do not hash to its name (truncated,
edited, half-written) is reported once and rewritten; Numba's own cache files are deleted
with it. The cache directory is ``$XLALITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/xlalite``, else
``~/.cache/xlalite``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llvmlite
import numba
import numpy as np

from xlalite.version import __version__


def cache_dir() -> Path:
    if os.environ.get("XLALITE_CACHE_DIR"):
        return Path(os.environ["XLALITE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xlalite"


def file_digest(paths: list[Path]) -> str:
    """Hash of hand-written modules that kernels call. Numba caches a kernel with its callees
    compiled in, but only checks the kernel file itself, so a target writes this digest into
    its kernel header: an edited library changes every kernel's cache key."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


_VERSIONS = (f"xlalite {__version__}; numba {numba.__version__}; "
             f"llvmlite {llvmlite.__version__}; numpy {np.__version__}")


def versions() -> str:
    return _VERSIONS


def _digest(text: str) -> str:
    return hashlib.sha256((text + "\n#" + versions()).encode()).hexdigest()[:32]


@dataclass
class CacheStats:
    """Process-wide counters (``xlalite.cache_info()``)."""

    kernels_loaded: int = 0  # distinct kernels imported in this process
    memory_hits: int = 0  # kernel requests served from this process
    disk_hits: int = 0  # source found on disk
    misses: int = 0  # source written anew
    rebuilt: int = 0  # corrupt entries detected and rewritten
    compiles: int = 0  # signatures compiled by Numba
    numba_cache_loads: int = 0  # signatures loaded from Numba's on-disk cache
    compile_seconds: float = 0.0  # time spent compiling or loading machine code
    timings: list[float] = field(default_factory=list)  # seconds per compile_for, in order
    reported: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("reported", "timings")}
        d["seconds_per_signature"] = [round(t, 4) for t in self.timings]
        d["compile_seconds"] = round(self.compile_seconds, 4)
        d["cache_dir"] = str(cache_dir())
        return d


STATS = CacheStats()
_LOADED: dict[str, object] = {}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)  # atomic: readers never see half a file


def _purge_numba_cache(path: Path) -> None:
    pycache = path.parent / "__pycache__"
    if pycache.is_dir():
        for f in pycache.glob(f"{path.stem}.*"):
            f.unlink(missing_ok=True)


def load_module(text: str):
    """The ``kernel`` of a complete kernel module's `text` (any backend's), cached on disk
    under the hash of the text and the tool versions; a corrupt file is rewritten."""
    key = _digest(text)
    if key in _LOADED:
        STATS.memory_hits += 1
        return _LOADED[key]
    path = cache_dir() / "kernels" / f"xlk_{key}.py"
    try:
        on_disk = path.read_text() if path.exists() else None
    except (OSError, UnicodeDecodeError):
        on_disk = ""
    if on_disk is None:
        STATS.misses += 1
        _write(path, text)
    elif _digest(on_disk) != key:
        if key not in STATS.reported:
            warnings.warn(f"xlalite: corrupt kernel cache entry {path} was rebuilt", stacklevel=3)
            STATS.reported.add(key)
        STATS.rebuilt += 1
        _purge_numba_cache(path)
        _write(path, text)
    else:
        STATS.disk_hits += 1
    name = f"xlalite_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Numba's cache re-imports the module by name
    spec.loader.exec_module(module)
    module.kernel.xlalite_path = path
    _LOADED[key] = module.kernel
    STATS.kernels_loaded += 1
    return module.kernel


def compile_for(kernel: Any, arrays: Sequence[object]) -> None:
    """Compile (or load from Numba's cache) `kernel` for these argument types, timed."""
    sig = tuple(numba.typeof(a) for a in arrays)
    if sig in kernel.overloads:
        return
    hits = kernel.stats.cache_hits.copy() if hasattr(kernel, "stats") else {}
    start = time.perf_counter()
    try:
        kernel.compile(sig)
    except Exception as e:  # Numba's cached machine code would not load: rebuild it
        path = kernel.xlalite_path
        if not any((path.parent / "__pycache__").glob(f"{path.stem}.*")):
            raise  # nothing cached to blame: a genuine compile error
        if str(path) not in STATS.reported:
            warnings.warn(f"xlalite: unusable compiled cache for {path} ({type(e).__name__}); "
                          "recompiling", stacklevel=2)
            STATS.reported.add(str(path))
        STATS.rebuilt += 1
        _purge_numba_cache(path)
        kernel._cache.flush() if hasattr(kernel, "_cache") else None
        kernel.compile(sig)
    STATS.compile_seconds += time.perf_counter() - start
    STATS.timings.append(time.perf_counter() - start)
    new_hits = kernel.stats.cache_hits if hasattr(kernel, "stats") else {}
    if sum(new_hits.values()) > sum(hits.values()):
        STATS.numba_cache_loads += 1
    else:
        STATS.compiles += 1


def clear_cache() -> Path:
    """Delete the cache directory (the next compile regenerates everything)."""
    d = cache_dir()
    shutil.rmtree(d, ignore_errors=True)
    _LOADED.clear()
    return d
