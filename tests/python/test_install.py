"""A newcomer's install: build the wheel, install it into a fresh virtualenv
(cffi and numpy from PyPI), and run examples/python/minimal.py there."""

import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def chunkgroup_version() -> str:
    import chunkgroup

    return chunkgroup.__version__


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_into_fresh_venv(tmp_path):
    if shutil.which("go") is None:
        pytest.skip("building the wheel needs the Go toolchain")
    # Build from a copy of the sources, as a newcomer's checkout would be,
    # without touching this tree's build products.
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "_lib", "__pycache__", "*.egg-info",
                                    ".pytest_cache", "tests")
    shutil.copytree(ROOT, src, ignore=ignore)
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if k not in ("CHUNKGROUP_LIB", "PYTHONPATH", "PYTHONHOME")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
                   check=True, env=env, timeout=600)
    (raw,) = glob.glob(str(wheels / "chunkgroup-*.whl"))
    assert "-py3-none-linux" in os.path.basename(raw)
    # What make wheel does: auditwheel checks the library's dependencies and
    # tags the wheel manylinux, which a package index accepts.
    bindir = os.path.dirname(sys.executable)
    repaired = tmp_path / "repaired"
    subprocess.run([os.path.join(bindir, "auditwheel"), "repair", "-w", str(repaired), raw], check=True,
                   env=dict(env, PATH=bindir + os.pathsep + env.get("PATH", "")), timeout=300,
                   capture_output=True)
    (whl,) = glob.glob(str(repaired / "chunkgroup-*.whl"))
    assert "-py3-none-manylinux_" in os.path.basename(whl), whl
    names = zipfile.ZipFile(whl).namelist()
    assert "chunkgroup/_lib/libchunkgroup.so" in names
    assert "chunkgroup/py.typed" in names
    assert any(n.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in n for n in names), names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    # numpy comes in as an install requirement of the wheel, as for a user.
    subprocess.run([py, "-m", "pip", "install", "-q", whl], check=True, env=env, timeout=600)
    # Importing needs no compiler toolchain: a PATH with only the venv's
    # bin (no gcc, no cc, no go) is enough.
    bare = dict(env, PATH=str(venv / "bin"))
    out = subprocess.run([py, "-c", "import numpy, chunkgroup, chunkgroup.recv; print(chunkgroup.__version__)"],
                         cwd=tmp_path, env=bare, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == chunkgroup_version()
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    out = subprocess.run([py, os.path.join(ROOT, "examples", "python", "minimal.py")], cwd=run_dir, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("OK")
    where = subprocess.run([py, "-c", "import chunkgroup._ffi as f; print(f.LIB_PATH)"], cwd=run_dir, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_readme_pip_install_dot(tmp_path):
    # The README's Python install, verbatim: `pip install .` in a checkout,
    # into a fresh virtualenv, then the README's example (a plain Python
    # program outside the checkout).
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "_lib", "__pycache__", "*.egg-info",
                                    ".pytest_cache", "tests")
    shutil.copytree(ROOT, src, ignore=ignore)
    readme = (src / "README.md").read_text()
    assert "`pip install .`" in readme
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("CHUNKGROUP_LIB", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    subprocess.run(["pip", "install", "-q", "."], cwd=src, check=True, env=env, timeout=600)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    out = subprocess.run([py, str(src / "examples" / "python" / "minimal.py")], cwd=run_dir, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("OK")
