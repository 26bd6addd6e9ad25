"""The documentation stays true to the code.

- docs/c-api.md is exactly what tools/gen_c_api_docs.py makes from
  include/chunkgroup.h (so the reference cannot drift from the header), and
  names every function the header declares;
- relative links between the pages point at files that exist;
- the examples marked ``<!-- test: ... -->`` in the pages run (Python) or
  compile and link (C).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
HEADER = os.path.join(ROOT, "include", "chunkgroup.h")
GEN = os.path.join(ROOT, "tools", "gen_c_api_docs.py")
C_API = os.path.join(DOCS, "c-api.md")
PAGES = [
    "README.md",
    "getting-started.md",
    "concepts.md",
    "migrating-from-spead2.md",
    "c-api.md",
    "tuning.md",
    "troubleshooting.md",
    "valgrind.md",
]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _generator():
    spec = importlib.util.spec_from_file_location("gen_c_api_docs", GEN)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["gen_c_api_docs"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _header_functions() -> list:
    """Functions declared in the header, found independently of the
    generator: comments and preprocessor lines removed, then every
    ``cg_name(`` left is a declaration."""
    code = re.sub(r"/\*.*?\*/", " ", _read(HEADER), flags=re.S)
    code = "\n".join(l for l in code.splitlines() if not l.lstrip().startswith("#"))
    names = sorted(set(re.findall(r"\b(cg_\w+)\s*\(", code)))
    return names


def test_c_api_md_is_up_to_date():
    want = _generator().render(_read(HEADER))
    got = _read(C_API)
    assert got == want, "docs/c-api.md is out of date: run python3 tools/gen_c_api_docs.py"


def test_generator_check_mode_agrees():
    r = subprocess.run([sys.executable, GEN, "--check"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_every_header_function_is_documented():
    names = _header_functions()
    assert len(names) > 90, names  # the parse found the declarations
    doc = _read(C_API)
    code = "\n".join(re.findall(r"```c\n(.*?)```", doc, flags=re.S))
    missing = [n for n in names if not re.search(r"\b%s\s*\(" % re.escape(n), code)]
    assert not missing, f"declared in the header but not in a code block of docs/c-api.md: {missing}"
    unindexed = [n for n in names if f"- `{n}`" not in doc]
    assert not unindexed, f"missing from the index of docs/c-api.md: {unindexed}"


def test_every_section_of_the_header_is_a_heading():
    titles = _generator().parse(_read(HEADER))[1]
    doc = _read(C_API)
    for sec in titles:
        assert f"\n## {sec.title}\n" in doc
    assert len(titles) >= 10


def test_generator_is_deterministic():
    gen = _generator()
    text = _read(HEADER)
    assert gen.render(text) == gen.render(text)


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_resolve(page):
    path = os.path.join(DOCS, page)
    text = _read(path)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file_part = target.split("#", 1)[0]
        resolved = os.path.normpath(os.path.join(DOCS, file_part))
        assert os.path.exists(resolved), f"{page}: broken link {target}"


def _slug(heading: str) -> str:
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


@pytest.mark.parametrize("page", PAGES)
def test_anchors_resolve(page):
    """Links to #anchors in the docs name headings that exist (GitHub's
    slug rules, enough for our headings)."""
    text = _read(os.path.join(DOCS, page))
    for target in re.findall(r"\]\(([^)\s]*#[^)\s]+)\)", text):
        file_part, anchor = target.split("#", 1)
        if re.match(r"[a-z]+:", file_part):
            continue
        other = os.path.join(DOCS, file_part) if file_part else os.path.join(DOCS, page)
        heads = [_slug(h) for h in re.findall(r"^#+ (.+)$", _read(other), flags=re.M)]
        assert anchor in heads, f"{page}: no heading for #{anchor} in {file_part or page}"


def _marked_blocks(page: str, lang: str) -> dict:
    text = _read(os.path.join(DOCS, page))
    pat = r"<!-- test: %s ([\w-]+) -->\n```%s\n(.*?)```" % (lang, lang)
    return dict(re.findall(pat, text, flags=re.S))


def test_getting_started_python_example_runs(tmp_path):
    blocks = _marked_blocks("getting-started.md", "python")
    assert "getting-started" in blocks
    script = tmp_path / "first.py"
    script.write_text(blocks["getting-started"])
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    # heaps counts every heap received (complete or not), so it is exact
    # whatever the scheduling; 16 chunk lines, one per chunk ID.
    assert "heaps 1024 " in r.stdout, r.stdout
    ids = re.findall(r"^chunk (\d+): \d+/64 heaps$", r.stdout, flags=re.M)
    assert ids == [str(i) for i in range(16)], r.stdout


def test_getting_started_c_example_compiles(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    lib = os.path.join(ROOT, "build", "libchunkgroup.so")
    if cc is None or not os.path.exists(lib):
        pytest.skip("needs a C compiler and build/libchunkgroup.so (make lib)")
    blocks = _marked_blocks("getting-started.md", "c")
    assert "getting-started" in blocks
    src = tmp_path / "first_recv.c"
    src.write_text(blocks["getting-started"])
    r = subprocess.run(
        [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(ROOT, "include"),
         "-o", str(tmp_path / "first_recv"), str(src), "-L", os.path.join(ROOT, "build"), "-lchunkgroup"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr


def test_python_names_in_docs_exist():
    """Every chunkgroup.recv / chunkgroup name written as recv.X or
    chunkgroup.X in the pages exists in the package."""
    import chunkgroup
    import chunkgroup.metrics
    import chunkgroup.numba
    import chunkgroup.recv
    import chunkgroup.recv.asyncio
    import chunkgroup.recv.numba
    import chunkgroup.send

    text = "\n".join(_read(os.path.join(DOCS, p)) for p in PAGES if p != "c-api.md")
    for mod_name, mod in (("chunkgroup.recv", chunkgroup.recv), ("chunkgroup.send", chunkgroup.send)):
        for name in set(re.findall(r"\b%s\.([A-Za-z_]\w*)" % re.escape(mod_name), text)):
            assert hasattr(mod, name), f"{mod_name}.{name} is in the docs but not in the package"
    for name in set(re.findall(r"(?<!spead2\.)\brecv\.([A-Z]\w*)", text)):
        assert hasattr(chunkgroup.recv, name), f"recv.{name} is in the docs but not in chunkgroup.recv"
    for name in set(re.findall(r"\bchunkgroup\.([A-Za-z_]\w*)\b", text)):
        if name in ("recv", "send", "h", "pc", "so"):  # modules; file names
            continue
        assert hasattr(chunkgroup, name), f"chunkgroup.{name} is in the docs but not in the package"
