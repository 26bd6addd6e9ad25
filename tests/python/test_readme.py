"""The README's examples are the example files, and they run.

The Python block must be examples/python/minimal.py verbatim (run here); the
C block must be examples/c/minimal.c verbatim (built and run by
tests/c/run.sh, also under valgrind)."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def block(lang: str) -> str:
    blocks = re.findall(rf"^```{lang}\n(.*?)^```$", README, re.S | re.M)
    assert len(blocks) == 1, f"README should have exactly one {lang} block, has {len(blocks)}"
    return blocks[0]


def test_python_block_is_the_example():
    assert block("python") == (ROOT / "examples/python/minimal.py").read_text()


def test_c_block_is_the_example():
    assert block("c") == (ROOT / "examples/c/minimal.c").read_text()


def test_python_example_runs():
    out = subprocess.run([sys.executable, str(ROOT / "examples/python/minimal.py")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "chunk 0: present=[1, 1, 1, 1] first bytes=[0, 1, 2, 3]" in out.stdout
    assert "chunk 1: present=[1, 1, 1, 1] first bytes=[4, 5, 6, 7]" in out.stdout
    assert out.stdout.rstrip().endswith("OK")


def test_the_two_commands_are_documented():
    assert "make demo" in README and "make test" in README
