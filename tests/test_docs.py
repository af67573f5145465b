"""Docs that are generated must be current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ir_op_table_matches_registry():
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_op_table.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_starts_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    blocks = text.split("```")
    assert blocks[1].strip().splitlines() == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\nmake test\n" in ci
