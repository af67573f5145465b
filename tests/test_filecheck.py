"""Golden IR tests: run each tests/filecheck/*.xir file's `// RUN:` line (LLVM lit style).

`%s` is the file; `xlalite-opt` and `filecheck` resolve to the test environment's scripts.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "filecheck"
CASES = sorted(HERE.glob("*.xir"))


def run_lines(path: Path) -> list[str]:
    prefix = "// RUN:"
    return [line[len(prefix):].strip() for line in path.read_text().splitlines()
            if line.startswith(prefix)]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_filecheck(path: Path):
    commands = run_lines(path)
    assert commands, f"{path.name} has no // RUN: line"
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    for cmd in commands:
        r = subprocess.run(cmd.replace("%s", str(path)), shell=True, capture_output=True,
                           text=True, env=env, timeout=120, executable="/bin/bash")
        assert r.returncode == 0, f"{cmd}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def test_each_pass_has_at_least_five_golden_cases():
    for name in ("canonicalize", "cse", "dce", "fuse", "plan-memory"):
        text = (HERE / f"{name}.xir").read_text()
        assert text.count("CHECK-LABEL") >= 5, f"{name}.xir needs at least 5 cases"
