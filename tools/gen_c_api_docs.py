#!/usr/bin/env python3
"""Generate docs/c-api.md from include/chunkgroup.h.

The C API reference is made from the header itself, so it cannot drift from
it: the header's comment blocks become prose, its declarations become code
blocks, in the header's own order, grouped by the header's section markers
(a ``/* ---- */`` rule line followed by a comment whose first phrase is the
section title).  tests/python/test_docs.py regenerates the page and fails if
the committed docs/c-api.md differs.

Usage:
    python3 tools/gen_c_api_docs.py            # write docs/c-api.md
    python3 tools/gen_c_api_docs.py --check    # exit 1 if it is out of date
    python3 tools/gen_c_api_docs.py --stdout   # print instead of writing
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(ROOT, "include", "chunkgroup.h")
OUTPUT = os.path.join(ROOT, "docs", "c-api.md")

RULE = re.compile(r"^/\*\s*-{10,}\s*\*/\s*$")
FUNC_NAME = re.compile(r"\b(cg_\w+)\s*\(")


# ---------------------------------------------------------------- parsing


@dataclass
class Block:
    """A run of the header: prose (a comment) or code (declarations)."""

    kind: str  # "prose" or "code"
    lines: List[str]


@dataclass
class Section:
    title: str
    intro: List[str] = field(default_factory=list)  # comment lines after the title
    blocks: List[Block] = field(default_factory=list)


def _comment_lines(raw: List[str]) -> List[str]:
    """The text of a /* ... */ comment, one entry per source line, with the
    comment markers and the ` * ` margin removed (further indentation kept)."""
    out = []
    for i, line in enumerate(raw):
        s = line.rstrip()
        if i == 0:
            s = s.lstrip()
            assert s.startswith("/*"), s
            s = s[2:]
        if s.endswith("*/"):
            s = s[:-2].rstrip()
        if i > 0:
            s = s.lstrip()
            if s.startswith("*") and not s.startswith("*/"):
                s = s[1:]
        if s.startswith(" "):
            s = s[1:]  # the single space after the margin
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def _read_comment(lines: List[str], i: int) -> Tuple[List[str], int]:
    """Read a comment starting at lines[i]; return its text and the index
    after it."""
    raw = []
    while True:
        raw.append(lines[i])
        if "*/" in lines[i]:
            return _comment_lines(raw), i + 1
        i += 1


def _read_declaration(lines: List[str], i: int) -> Tuple[List[str], int]:
    """Read a declaration (up to the ';' that ends it at brace depth 0,
    trailing comments included); return its lines and the index after it."""
    out = []
    depth = 0
    in_comment = False
    while i < len(lines):
        line = lines[i]
        out.append(line.rstrip())
        i += 1
        code = ""
        j = 0
        while j < len(line):  # strip comments to count braces and find ';'
            if in_comment:
                k = line.find("*/", j)
                if k < 0:
                    j = len(line)
                else:
                    in_comment = False
                    j = k + 2
            elif line.startswith("/*", j):
                in_comment = True
                j += 2
            else:
                code += line[j]
                j += 1
        depth += code.count("{") - code.count("}")
        if depth == 0 and code.rstrip().endswith(";") and not in_comment:
            return out, i
    raise ValueError("unterminated declaration at end of header")


def _split_title(text: List[str]) -> Tuple[str, List[str]]:
    """Section title (the first phrase of the comment: up to the first '.'
    or ':' that ends a sentence) and the rest of the comment."""
    joined = " ".join(t.strip() for t in text)
    m = re.match(r"(.+?)(?:([.:])(?:\s+|$)|$)", joined)
    if not m:
        return joined, []
    title = m.group(1).strip()
    rest = joined[m.end():].strip()
    if rest and m.group(2) == ":":
        rest = rest[0].upper() + rest[1:]  # "Title: what it is" -> "What it is"
    return title, ([rest] if rest else [])


def parse(header: str) -> Tuple[List[str], List[Section]]:
    """Split the header into its leading comment (the conventions) and its
    sections.  The #defines before the first rule form a "Constants"
    section."""
    lines = header.splitlines()
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    lead, i = _read_comment(lines, i)

    sections: List[Section] = [Section("Constants")]
    pending: List[Block] = sections[0].blocks
    cur = sections[0]
    started = False  # past `extern "C" {`
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if not started:
            if s.startswith('extern "C"'):
                started = True
            i += 1
            continue
        if not s:
            # A blank line separates code blocks, as it separates groups of
            # declarations in the header.
            if pending and pending[-1].kind == "code":
                pending.append(Block("gap", []))
            i += 1
            continue
        if RULE.match(s):
            i += 1
            while not lines[i].strip():
                i += 1
            text, i = _read_comment(lines, i)
            title, intro = _split_title(text)
            cur = Section(title, intro)
            sections.append(cur)
            pending = cur.blocks
            continue
        if s.startswith("/*"):
            text, i = _read_comment(lines, i)
            pending.append(Block("prose", text))
            continue
        if s.startswith("#"):
            if s.startswith(("#ifdef __cplusplus", "#endif", "#ifndef", "#define CHUNKGROUP_H")):
                i += 1
                continue
            _append_code(pending, [line.rstrip()])
            i += 1
            continue
        if s == "}":  # closing brace of extern "C"
            i += 1
            continue
        decl, i = _read_declaration(lines, i)
        _append_code(pending, decl)
    return lead, sections


def _append_code(blocks: List[Block], lines: List[str]) -> None:
    if blocks and blocks[-1].kind == "code":
        blocks[-1].lines.extend(lines)
    else:
        blocks.append(Block("code", list(lines)))


def declared_functions(header: str) -> List[str]:
    """Names of the functions the header declares (comments ignored)."""
    code = re.sub(r"/\*.*?\*/", " ", header, flags=re.S)
    code = "\n".join(l for l in code.splitlines() if not l.lstrip().startswith("#"))
    names = []
    for name in FUNC_NAME.findall(code):
        if name not in names:
            names.append(name)
    return names


# ---------------------------------------------------------------- rendering

_TOKEN = re.compile(r"\S+")
_EDGE = "()[],;:.\"'"


def _inline(text: str) -> str:
    """Prose with identifiers in backticks, so underscores and asterisks
    are not read as emphasis."""

    def fix(m: "re.Match[str]") -> str:
        tok = m.group(0)
        if "`" in tok:
            return tok
        core = tok.strip(_EDGE)
        if not core:
            return tok
        pointer = len(core) > 1 and core[0] == "*" and (core[1].isalnum() or core[1] == "_")
        looks_code = "_" in core or pointer or "->" in core or core.endswith("()")
        if not looks_code:
            return tok
        start = tok.find(core)
        pre, post = tok[:start], tok[start + len(core):]
        # Keep a call's "()" with the name.
        if post.startswith("()"):
            core, post = core + "()", post[2:]
        return f"{pre}`{core}`{post}"

    return _TOKEN.sub(fix, text)


def _prose(lines: List[str]) -> List[str]:
    """Comment text to Markdown: paragraphs, '- ' lists (with indented
    continuation lines), and indented lines outside lists as code."""
    out: List[str] = []
    para: List[str] = []
    pre: List[str] = []
    in_list = False

    def flush_para() -> None:
        if para:
            out.append(_inline(" ".join(para)))
            para.clear()

    def flush_pre() -> None:
        if pre:
            if out and out[-1] != "":
                out.append("")
            out.append("```")
            out.extend(pre)
            out.append("```")
            out.append("")
            pre.clear()

    for raw in lines:
        if not raw.strip():
            flush_para()
            flush_pre()
            if out and out[-1] != "":
                out.append("")
            in_list = False
            continue
        indented = raw.startswith("  ")
        text = raw.strip()
        if text.startswith("- "):
            flush_para()
            flush_pre()
            if not in_list and out and out[-1] != "":
                out.append("")
            in_list = True
            para.append(text)
            continue
        if indented and in_list:
            para.append(text)
            continue
        if indented:
            flush_para()
            pre.append(raw[2:].rstrip())
            continue
        flush_pre()
        if in_list:  # a plain line after a list ends it
            flush_para()
            out.append("")
            in_list = False
        para.append(text)
    flush_para()
    flush_pre()
    while out and out[-1] == "":
        out.pop()
    return out


def _anchor(title: str) -> str:
    a = title.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def render(header: str) -> str:
    lead, sections = parse(header)
    fns = declared_functions(header)
    out: List[str] = []
    w = out.append
    w("# C API reference")
    w("")
    w("<!-- Generated from include/chunkgroup.h by tools/gen_c_api_docs.py: do not edit. -->")
    w("")
    w("This page is generated from `include/chunkgroup.h`; edit the header, then")
    w("regenerate it with")
    w("")
    w("```")
    w("python3 tools/gen_c_api_docs.py")
    w("```")
    w("")
    w("`tests/python/test_docs.py` fails when this page is out of date. Build and")
    w("link: `make lib` (or `make install`, then `pkg-config --cflags --libs")
    w("chunkgroup`). A first receiver in C is in [getting-started.md](getting-started.md);")
    w("the ideas behind the calls are in [concepts.md](concepts.md).")
    w("")
    w("## Contents")
    w("")
    w("- [Conventions](#conventions)")
    for sec in sections:
        w(f"- [{sec.title}](#{_anchor(sec.title)})")
    w("- [Index of functions](#index-of-functions)")
    w("")
    w("## Conventions")
    w("")
    body = lead
    if body and body[0].startswith("chunkgroup.h"):
        out.extend(_prose(body[:_first_blank(body)]))
        w("")
        body = body[_first_blank(body):]
    # The header's "Conventions" heading line is replaced by ours.
    body = [l for l in body if l.strip() != "Conventions"]
    out.extend(_prose(body))
    w("")
    for sec in sections:
        w(f"## {sec.title}")
        w("")
        if sec.intro:
            out.extend(_prose(sec.intro))
            w("")
        for b in sec.blocks:
            if b.kind == "gap":
                continue
            if b.kind == "prose":
                out.extend(_prose(b.lines))
            else:
                w("```c")
                out.extend(_dedent(b.lines))
                w("```")
            w("")
    w("## Index of functions")
    w("")
    sec_of = _function_sections(sections)
    for name in sorted(fns):
        title = sec_of.get(name, "")
        w(f"- `{name}` ([{title}](#{_anchor(title)}))" if title else f"- `{name}`")
    w("")
    return "\n".join(out)


def _first_blank(lines: List[str]) -> int:
    for i, l in enumerate(lines):
        if not l.strip():
            return i
    return len(lines)


def _dedent(lines: List[str]) -> List[str]:
    return [l.rstrip() for l in lines]


def _function_sections(sections: List[Section]) -> dict:
    where = {}
    for sec in sections:
        for b in sec.blocks:
            if b.kind != "code":
                continue
            for name in declared_functions("\n".join(b.lines)):
                where.setdefault(name, sec.title)
    return where


# ---------------------------------------------------------------- main


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--header", default=HEADER)
    ap.add_argument("--output", default=OUTPUT)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the output is out of date")
    mode.add_argument("--stdout", action="store_true", help="print the page instead of writing it")
    args = ap.parse_args(argv)
    with open(args.header, encoding="utf-8") as f:
        text = render(f.read())
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.output} is out of date: run python3 tools/gen_c_api_docs.py", file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(args.output, ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
