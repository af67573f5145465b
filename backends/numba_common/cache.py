"""The persistent kernel cache, shared by the Numba targets.

Each generated kernel module is written to ``<cache dir>/kernels/xlk_<hash>.py`` where the
hash covers the module's full text (so the IR structure, the backend options and whatever
digest of hand-written libraries the target writes into its header) and the xlalite, Numba,
llvmlite and NumPy versions. The file is imported like a normal module, so its
``@njit(cache=True)`` function is also cached by Numba next to it: a second process loads
machine code instead of compiling. The cache directory is ``$XLALITE_CACHE_DIR``, else
``$XDG_CACHE_HOME/xlalite``, else ``~/.cache/xlalite``.

What is trusted, and how little (``docs/security.md``):

* the directory must be ours and writable by no one else (created 0700; one that others can
  write is refused, as ccache and pip refuse theirs), so only the user can plant files;
* a kernel's source is executed only after it hashes to its file name, and is compiled from
  that text: no ``.pyc`` is ever read or written;
* Numba's own cache files (``__pycache__/xlk_<key>.*``: an index that Numba unpickles, and
  machine code) are used only when they match the manifest of hashes recorded beside the
  kernel when they were written; anything else is deleted and compiled anew;
* a corrupt or planted entry (truncated, edited, swapped, a folder where a file should be) is
  reported once and rebuilt, never trusted and never a traceback.

Loading and compiling are serialized within a process (one lock) and atomic between
processes (every file is written under a temporary name of its own, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llvmlite
import numba
import numpy as np

from xlalite.runtime import profile
from xlalite.version import __version__


class CacheError(RuntimeError):
    """The kernel cache directory cannot be used safely; the message says why and what to do."""


def cache_dir() -> Path:
    if os.environ.get("XLALITE_CACHE_DIR"):
        return Path(os.environ["XLALITE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xlalite"


def private_dir(path: Path) -> Path:
    """`path` as a directory only this user can write: created 0700 when missing; refused
    (CacheError) when it is not a directory, belongs to another user, or others can write it."""
    fix = "set XLALITE_CACHE_DIR to a directory of your own"
    if path.exists() and not path.is_dir():
        raise CacheError(f"xlalite's kernel cache {path} is not a directory; remove it or {fix}")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise CacheError(f"xlalite's kernel cache {path} belongs to another user; {fix}")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(f"xlalite's kernel cache {path} can be written by other users (mode "
                         f"{stat.filemode(info.st_mode)}): its code would run as you; "
                         f"`chmod go-w {path}` or {fix}")
    return path


def kernels_dir() -> Path:
    """The checked folder kernel modules live in."""
    root = cache_dir()
    private_dir(root)
    return private_dir(root / "kernels")


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
    # a temporary name of its own for every writer, thread or process
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)  # atomic: readers never see half a file


def _numba_files(path: Path) -> list[Path]:
    """Numba's cache files of the kernel module at `path` (its index and machine code)."""
    pycache = path.parent / "__pycache__"
    return sorted(f for f in pycache.glob(f"{path.stem}.*") if f.is_file()) \
        if pycache.is_dir() else []


def _manifest(path: Path) -> Path:
    return path.with_suffix(".manifest")


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _purge_numba_cache(path: Path) -> None:
    pycache = path.parent / "__pycache__"
    if pycache.is_dir():
        for f in pycache.glob(f"{path.stem}.*"):
            if f.is_dir():
                shutil.rmtree(f, ignore_errors=True)
            else:
                f.unlink(missing_ok=True)
    _manifest(path).unlink(missing_ok=True)


def _verify_numba_cache(path: Path) -> None:
    """Delete Numba's cache files of `path` unless they are exactly those its manifest lists
    (Numba unpickles its index: a planted or swapped file must never be read)."""
    files = _numba_files(path)
    if not files:
        return
    try:
        recorded = json.loads(_manifest(path).read_text(encoding="utf-8"))
        ok = isinstance(recorded, dict) and recorded == {f.name: _hash(f) for f in files}
    except (OSError, ValueError):
        ok = False
    if not ok:
        if str(path) not in STATS.reported:
            warnings.warn(f"xlalite: compiled cache files of {path.name} do not match their "
                          "manifest; they were deleted and the kernel is compiled anew",
                          stacklevel=3)
            STATS.reported.add(str(path))
        STATS.rebuilt += 1
        _purge_numba_cache(path)


def _record_numba_cache(path: Path) -> None:
    """Write the manifest of the cache files Numba has just written for `path`."""
    files = _numba_files(path)
    if files:
        _write(_manifest(path), json.dumps({f.name: _hash(f) for f in files}, sort_keys=True))


_LOCK = threading.RLock()  # one thread at a time loads or compiles kernels


def load_module(text: str) -> Any:
    """The ``kernel`` of a complete kernel module's `text` (any backend's), cached on disk
    under the hash of the text and the tool versions; a corrupt entry is rebuilt."""
    key = _digest(text)
    with _LOCK:
        if key in _LOADED:
            STATS.memory_hits += 1
            return _LOADED[key]
        path = kernels_dir() / f"xlk_{key}.py"
        try:
            on_disk: str | None = path.read_text(encoding="utf-8") if path.exists() else None
        except (OSError, UnicodeDecodeError):  # unreadable, not text, or a folder
            on_disk = ""
        if on_disk is None:
            STATS.misses += 1
            _purge_numba_cache(path)  # leftovers of an entry deleted by hand
            _write(path, text)
        elif _digest(on_disk) != key:
            if key not in STATS.reported:
                warnings.warn(f"xlalite: corrupt kernel cache entry {path} was rebuilt",
                              stacklevel=3)
                STATS.reported.add(key)
            STATS.rebuilt += 1
            _purge_numba_cache(path)
            if path.is_dir():
                shutil.rmtree(path)
            _write(path, text)
        else:
            STATS.disk_hits += 1
        name = f"xlalite_kernel_{key}"
        module = types.ModuleType(name)
        module.__file__ = str(path)
        # compiled from the text just checked, never from bytecode on disk; registered by
        # name because Numba's cache looks the module up there
        code = compile(text, str(path), "exec", dont_inherit=True)
        sys.modules[name] = module
        exec(code, module.__dict__)
        kernel = module.__dict__["kernel"]
        kernel.xlalite_path = path
        kernel.xlalite_label = _label(text)
        kernel.xlalite_fresh = on_disk != text  # written just now: nothing compiled of it yet
        kernel.xlalite_why = _why_new(path.stem, text)
        _LOADED[key] = kernel
        STATS.kernels_loaded += 1
        return kernel


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d*)?(?:e[-+]?\d+)?")
#: the kernels loaded in this process by their text with numbers blanked: (file stem, text)
_SHAPES: dict[str, tuple[str, str]] = {}


def _why_new(stem: str, text: str) -> str:
    """Why kernel `text` is not one this process has loaded already: "new structure", or the
    literals in which it differs from a loaded kernel of the same code (the profile reports
    this, so a new batch size that compiles a kernel says which number it was)."""
    prior_stem, prior = _SHAPES.setdefault(_NUMBER.sub("#", text), (stem, text))
    if prior_stem == stem:
        return "new structure"
    diffs = [f"{a} -> {b}" for a, b in zip(_NUMBER.findall(prior), _NUMBER.findall(text)) if a != b]
    return f"as {prior_stem[:12]} but literals {', '.join(diffs[:3])}"


def kernel_key(text: str) -> str:
    """The cache key (file name stem after ``xlk_``) of a kernel module's text."""
    return _digest(text)


def load_cached(key: str) -> Any:
    """The ``kernel`` of the cached module with cache key `key` (a loop's body kernel, which
    its loop module names by key): from this process, or from its checked file on disk."""
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
    path = kernels_dir() / f"xlk_{key}.py"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    if _digest(text) != key:
        raise CacheError(f"xlalite's kernel cache has no valid {path.name} (a loop's body "
                         "kernel); it was changed or deleted while a program was loading")
    return load_module(text)


_CALLS = re.compile(r"\b((?:lib|blas|convlib)\.\w+)\(")  # not mm.*: inlined scalar math


def _label(text: str) -> str:
    """What a kernel module does, for profiles: the library functions it calls, else the
    shape of its loops."""
    calls = sorted(set(_CALLS.findall(text)))
    if calls:
        return " ".join(calls[:2]) + (" ..." if len(calls) > 2 else "")
    if "def kernel(slot, slots" in text:
        return "slotted loops"
    return "parallel loops" if "prange(" in text else "loops"


def compile_for(kernel: Any, arrays: Sequence[object]) -> None:
    """Compile (or load from Numba's cache) `kernel` for these argument types, timed and
    recorded in the active compile profile."""
    sig = tuple(numba.typeof(a) for a in arrays)
    name = f"{kernel.xlalite_path.stem[:12]}  {getattr(kernel, 'xlalite_label', '')}"
    if sig in kernel.overloads:
        profile.record_kernel(profile.KernelTime(name, "memory", 0.0))
        return
    with _LOCK:
        start = time.perf_counter()
        loaded = _compile_for(kernel, sig)
        seconds = time.perf_counter() - start
        why = getattr(kernel, "xlalite_why", "")
        if loaded:
            profile.record_kernel(profile.KernelTime(name, "numba cache", seconds, why=why))
        else:
            profile.record_kernel(profile.KernelTime(name, "compiled", seconds,
                                                     *_typing_and_lowering(kernel, sig), why=why))


def _typing_and_lowering(kernel: Any, sig: tuple) -> tuple[float, float]:
    """Seconds Numba spent in type inference and in lowering (LLVM included) compiling
    `sig`, from the per-pass times it keeps with each compiled signature."""
    typing = lowering = 0.0
    times = getattr(kernel.overloads.get(sig), "metadata", {}).get("pipeline_times", {})
    for passes in times.values():
        for pass_name, t in passes.items():
            if "type_inference" in pass_name:
                typing += t.run
            elif "lowering" in pass_name:
                lowering += t.run
    return typing, lowering


def _compile_for(kernel: Any, sig: tuple) -> bool:
    """Compile `sig`; True when Numba loaded it from its disk cache instead."""
    if sig in kernel.overloads:  # another thread compiled it meanwhile
        return True
    path = kernel.xlalite_path
    _verify_numba_cache(path)
    hits = kernel.stats.cache_hits.copy() if hasattr(kernel, "stats") else {}
    start = time.perf_counter()
    try:
        kernel.compile(sig)
    except Exception as e:  # Numba's cached machine code would not load: rebuild it
        if not _numba_files(path):
            raise  # nothing cached to blame: a genuine compile error
        if str(path) not in STATS.reported:
            warnings.warn(f"xlalite: unusable compiled cache for {path} ({type(e).__name__}); "
                          "recompiling", stacklevel=2)
            STATS.reported.add(str(path))
        STATS.rebuilt += 1
        _purge_numba_cache(path)
        kernel._cache.flush() if hasattr(kernel, "_cache") else None
        kernel.compile(sig)
    _record_numba_cache(path)
    STATS.compile_seconds += time.perf_counter() - start
    STATS.timings.append(time.perf_counter() - start)
    new_hits = kernel.stats.cache_hits if hasattr(kernel, "stats") else {}
    if sum(new_hits.values()) > sum(hits.values()):
        STATS.numba_cache_loads += 1
        return True
    STATS.compiles += 1
    return False


def clear_cache() -> Path:
    """Delete the cache directory (the next compile regenerates everything)."""
    d = cache_dir()
    shutil.rmtree(d, ignore_errors=True)
    _LOADED.clear()
    return d
