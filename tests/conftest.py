"""Shared test settings: hypothesis profiles (CI default; XLALITE_NIGHTLY=1 for long runs)."""

import os
from pathlib import Path

# Kernels compiled by the tests go to a cache inside the checkout (ignored by git), never to
# the user's cache; entries are content-hashed, so reusing it across runs is safe.
os.environ.setdefault("XLALITE_CACHE_DIR",
                      str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "kernels"))
# numba-cuda runs on Numba's CUDA simulator unless XLALITE_REAL_GPU=1 asks for the GPU (the
# variable must be set before Numba is imported; the CPU backend does not read it)
if os.environ.get("XLALITE_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", deadline=None, max_examples=10_000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nightly" if os.environ.get("XLALITE_NIGHTLY") else "ci")


def scaled(n: int) -> int:
    """Example count for a property test: `n` in CI, 10,000 in a nightly run."""
    return 10_000 if os.environ.get("XLALITE_NIGHTLY") else n


def pytest_terminal_summary(terminalreporter):
    """Report the finite-difference gradient checks run in this session."""
    from tests.gradcheck import STATS

    if STATS["checks"]:
        terminalreporter.write_line(
            f"finite-difference gradient checks: {STATS['checks']}, worst error "
            f"max|ad-fd|/(1+|fd|) = {STATS['worst']:.2e} ({STATS['worst_case']})")
