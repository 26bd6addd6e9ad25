"""Build the chunkgroup Python package.

The package is pure Python over cffi (ABI mode), plus the shared library
libchunkgroup.so built from the Go core with ``go build -buildmode=c-shared``
during ``build_py`` and carried inside the wheel (``chunkgroup/_lib``).  The
wheel is therefore platform specific (but not Python-version specific):
``py3-none-<platform>``.  Building needs Go (>= the version in go.mod).
"""

import os
import re
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

ROOT = os.path.dirname(os.path.abspath(__file__))
LIB_DIR = os.path.join(ROOT, "python", "chunkgroup", "_lib")
LIB = os.path.join(LIB_DIR, "libchunkgroup.so")


def _go_inputs():
    """Files whose change makes the bundled library stale."""
    paths = [os.path.join(ROOT, p) for p in ("go.mod", "go.sum", os.path.join("include", "chunkgroup.h"))]
    for top in ("core", "capi"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".go", ".c", ".h", ".s", ".map")) and not f.endswith("_test.go"):
                    paths.append(os.path.join(dirpath, f))
    return [p for p in paths if os.path.exists(p)]


def build_shared_library():
    """go build -buildmode=c-shared into python/chunkgroup/_lib, unless it
    is already there and newer than every Go source."""
    inputs = _go_inputs()
    if os.path.exists(LIB) and inputs and os.path.getmtime(LIB) >= max(os.path.getmtime(p) for p in inputs):
        return
    if not os.path.isdir(os.path.join(ROOT, "capi")):
        if os.path.exists(LIB):
            return  # e.g. an sdist without Go sources but with the library
        raise RuntimeError("capi/ (the Go sources of libchunkgroup) is missing")
    go = os.environ.get("GO", "go")
    if shutil.which(go) is None:
        raise RuntimeError("building chunkgroup needs the Go toolchain ('go' on PATH, or $GO)")
    os.makedirs(LIB_DIR, exist_ok=True)
    tmp = LIB + ".tmp"
    # The same soname and exported symbols (cg_* only) as `make lib`.
    header = open(os.path.join(ROOT, "include", "chunkgroup.h")).read()
    abi = re.search(r"^#define CG_ABI_VERSION\s+(\d+)", header, re.M).group(1)
    ldextra = f"-Wl,-soname,libchunkgroup.so.{abi} -Wl,--version-script={os.path.join(ROOT, 'capi', 'exports.map')}"
    cmd = [go, "build", "-buildmode=c-shared", "-trimpath", "-ldflags", f"-s -w -extldflags '{ldextra}'", "-o", tmp, "./capi"]
    print("building libchunkgroup.so:", " ".join(cmd), flush=True)
    subprocess.check_call(cmd, cwd=ROOT)
    os.replace(tmp, LIB)
    for generated in (os.path.splitext(tmp)[0] + ".h", os.path.join(LIB_DIR, "libchunkgroup.h")):
        if os.path.exists(generated):
            os.remove(generated)  # cgo's header; the real one is include/chunkgroup.h


class BuildPy(build_py):
    """build_py that first builds the shared library."""

    def run(self):
        editable = getattr(self, "editable_mode", False)
        checkout_lib = os.path.join(ROOT, "build", "libchunkgroup.so")
        # An editable install of a checkout uses build/libchunkgroup.so
        # (made by `make lib`) when it exists: no second Go build.
        if not (editable and os.path.exists(checkout_lib)):
            build_shared_library()
        # The binding reads its cffi declarations from the header, so the
        # wheel carries it next to the library.
        os.makedirs(LIB_DIR, exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, "include", "chunkgroup.h"), os.path.join(LIB_DIR, "chunkgroup.h"))
        self.__dict__.pop("data_files", None)  # recompute: the library is new
        super().run()


class BinaryDistribution(Distribution):
    """Marks the distribution as platform specific (it carries a .so)."""

    def has_ext_modules(self):
        return True


class BdistWheel(bdist_wheel):
    """py3-none-<platform>: cffi ABI mode works with any Python 3."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat


setup(
    name="chunkgroup",
    version="0.2.0",
    description="SPEAD receiver with chunk stream groups (Go core, cffi binding; spead2-compatible chunk API)",
    long_description=open(os.path.join(ROOT, "README.md")).read() if os.path.exists(os.path.join(ROOT, "README.md")) else "",
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    license_files=["LICENSE"],
    python_requires=">=3.8",
    package_dir={"": "python"},
    packages=["chunkgroup", "chunkgroup.recv"],  # chunkgroup.numba: numba helpers (numba optional)
    package_data={"chunkgroup": ["py.typed", "_lib/libchunkgroup.so", "_lib/chunkgroup.h"]},
    include_package_data=False,
    # numpy: Chunk buffers are arrays in every example (spead2 requires it too).
    install_requires=["cffi>=1.15", "numpy"],
    zip_safe=False,
    # Keep setuptools' scratch files under build/python, out of the way of
    # the Makefile's build/libchunkgroup.so (and removed by `make clean`).
    options={"build": {"build_base": os.path.join("build", "python")}},
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX :: Linux",
        "Topic :: Scientific/Engineering :: Astronomy",
    ],
)
