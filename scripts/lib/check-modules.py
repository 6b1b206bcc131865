#!/usr/bin/env python3
"""Check the module structure of the workspace's crates.

Why: files that import each other in a circle cannot be understood, tested or split
one at a time, and very long files hide that kind of tangle. This script keeps both in
check for every crate's `src/`, without needing a build:

1. no import circle between the source files of a crate (a child using its parent
   module's items is fine, so edges to an ancestor module are ignored);
2. no source file over a line limit, not counting its `#[cfg(test)] mod ... { }` block(s).

Usage: check-modules.py [--max-lines 500] [--only cycles|size] [DIR...]
With no DIR, checks the `[workspace] members` of the root Cargo.toml that have a `src/`.
Exit status: 0 clean, 1 findings, 2 usage error. Standard library only; Rust is parsed
roughly (comments and string literals blanked, braces matched), not compiled.
"""
import argparse
import glob
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+" + IDENT + r"\s*\{")
INLINE_MOD = re.compile(r"\bmod\s+(" + IDENT + r")\s*\{")
MOD_DECL = re.compile(r"^[ \t]*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", re.M)
USE_STMT = re.compile(r"(?<![\w$])use\s+")
PATH = re.compile(r"(?<![\w:$.])(" + IDENT + r")((?:\s*::\s*" + IDENT + r")+)")
USE_TOKEN = re.compile(r"\s*(::|" + IDENT + r"|[{},*;])")
RAW_STR = re.compile(r"b?r(#*)\"")


def blank(text, start, end):
    """Replace text[start:end] by spaces, keeping newlines (so line numbers stay)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def sanitize(src):
    """Blank comments (nested /* */ too) and the contents of string/char literals."""
    out, i, n = list(src), 0, len(src)

    def wipe(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c, nxt = src[i], src[i + 1 : i + 2]
        prev = src[i - 1] if i else ""
        if c == "/" and nxt == "/":
            j = src.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif (m := RAW_STR.match(src, i)) and not re.match(r"\w", prev):
            close = '"' + m.group(1)
            j = src.find(close, m.end())
            j = n if j < 0 else j + len(close)
            wipe(m.end(), j - len(close))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            wipe(i + 1, j)
            i = j + 1
        elif c == "'" and (nxt == "\\" or src[i + 2 : i + 3] == "'"):
            j = src.find("'", i + 3 if nxt == "\\" else i + 2)  # char literal, not a lifetime
            j = n if j < 0 else j
            wipe(i + 1, j)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def brace_end(text, open_at):
    """Index just past the `}` matching the `{` at open_at (text already sanitized)."""
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def strip_tests(text):
    """Blank every `#[cfg(test)] mod name { ... }` block; return (text, lines removed)."""
    removed = 0
    while m := TEST_MOD.search(text):
        end = brace_end(text, m.end() - 1)
        removed += text.count("\n", m.start(), end) + 1
        text = blank(text, m.start(), end)
    return text, removed


def parse_use(text, pos):
    """Parse the use tree starting at pos; return ([(segments, offset)], end offset)."""
    toks, j = [], pos
    while (m := USE_TOKEN.match(text, j)) and m.group(1) != ";":
        toks.append((m.group(1), m.start(1)))
        j = m.end()
    paths, k = [], 0

    def tree(prefix):
        nonlocal k
        segs = list(prefix)
        while k < len(toks):
            tok, off = toks[k]
            if tok == "{":
                k += 1
                while k < len(toks) and toks[k][0] != "}":
                    tree(segs)
                    if k < len(toks) and toks[k][0] == ",":
                        k += 1
                k += 1
                return
            if tok in (",", "}"):
                break
            k += 1
            if tok == "as":  # `as name`: the alias is not part of the path
                k += 1
                break
            if tok not in ("::", "*"):
                segs.append(tok)
                last = off
        if len(segs) > len(prefix):
            paths.append((segs[:-1] if segs[-1] == "self" else segs, last))

    tree([])
    return paths, j


class Crate:
    def __init__(self, root_dir):
        self.dir = Path(root_dir)
        src = self.dir / "src"
        self.files = sorted(p for p in src.rglob("*.rs"))
        self.module = {}  # file -> module path (tuple); bin targets get their own ("<bin>", name)
        for f in self.files:
            rel = f.relative_to(src).with_suffix("").parts
            if rel in (("lib",), ("main",)) or rel[-1] == "mod":
                rel = rel[:-1]
            if rel and rel[0] == "bin":
                rel = ("<bin>",) + rel[1:]
            if f == src / "main.rs" and (src / "lib.rs").exists():
                rel = ("<bin>", "main")  # binary next to a library: a separate crate
            self.module[f] = rel
        self.by_module = {m: f for f, m in self.module.items()}

    def resolve(self, segs, here, children):
        """Module path of the file a path refers to, or None if it leaves the crate."""
        root = here[:2] if here[:1] == ("<bin>",) else ()
        if segs[0] == "crate":
            mod, rest = root, segs[1:]
        elif segs[0] in ("self", "super"):
            mod, rest = here, segs
            while rest and rest[0] in ("self", "super"):
                if rest[0] == "super" and len(mod) > len(root):
                    mod = mod[:-1]
                rest = rest[1:]
        elif segs[0] in children:
            mod, rest = here, segs
        else:
            return None  # another crate, std, a local item
        full = tuple(mod) + tuple(rest)
        for cut in range(len(full), len(root) - 1, -1):
            if full[:cut] in self.by_module:
                return full[:cut]
        return None

    def edges(self):
        """{(from, to): (line, path text)} for every use of another module's file."""
        found = {}
        for f in self.files:
            text, _ = strip_tests(sanitize(f.read_text(encoding="utf-8")))
            here = self.module[f]
            children = set(MOD_DECL.findall(text))
            inline = [(m.start(1), brace_end(text, m.end() - 1), m.group(1))
                      for m in INLINE_MOD.finditer(text)]
            refs = [(["self", m.group(1)], m.start(1), "mod " + m.group(1))
                    for m in MOD_DECL.finditer(text)]
            use_spans = []
            for m in USE_STMT.finditer(text):
                paths, end = parse_use(text, m.end())
                refs += [(segs, off, None) for segs, off in paths]
                use_spans.append((m.start(), end))
            for m in PATH.finditer(text):
                if not any(a <= m.start() < b for a, b in use_spans):
                    segs = [m.group(1)] + re.findall(IDENT, m.group(2))
                    refs.append((segs, m.start(1), None))
            for segs, off, label in refs:
                scope = tuple(here) + tuple(n for a, b, n in inline if a < off < b)
                target = self.resolve(segs, scope, children if scope == here else ())
                if target is None or here[: len(target)] == target:
                    continue  # outside the crate, the file itself, or an ancestor module
                key = (f, self.by_module[target])
                if key not in found:
                    line = text.count("\n", 0, off) + 1
                    found[key] = (line, label or "::".join(segs))
        return found


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    graph, index, low, stack, on, out = {}, {}, {}, [], set(), []
    for a, b in edges:
        graph.setdefault(a, []).append(b)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def members():
    text = (REPO / "Cargo.toml").read_text(encoding="utf-8")
    ws = re.search(r"^\[workspace\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    lst = re.search(r"^\s*members\s*=\s*\[(.*?)\]", ws.group(1) if ws else "", re.M | re.S)
    names = re.findall(r'"([^"]+)"', re.sub(r"#.*", "", lst.group(1))) if lst else []
    dirs = [Path(d) for n in names for d in sorted(glob.glob(str(REPO / n)))]
    return [d for d in dirs if (d / "src").is_dir()]


def show(path):
    """Path relative to the current directory when below it, else as given."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-lines", type=int, default=500)
    ap.add_argument("--only", choices=("cycles", "size"))
    ap.add_argument("dirs", nargs="*", metavar="DIR", help="crate directory (holds src/)")
    args = ap.parse_args()
    dirs = [Path(d) for d in args.dirs] or members()
    for d in dirs:
        if not (d / "src").is_dir():
            ap.error(f"{d}: no src/ directory")
    problems, nfiles = [], 0
    for d in dirs:
        crate = Crate(d)
        nfiles += len(crate.files)
        if args.only != "size":
            edges = crate.edges()
            for comp in cycles(edges):
                lines = [f"import circle in {show(d)} ({len(comp)} files):"]
                lines += [f"  {show(f)}" for f in comp]
                for (a, b), (line, path) in sorted(edges.items()):
                    if a in comp and b in comp:
                        lines.append(f"  {show(a)} -> {show(b)}\n      {show(a)}:{line}: {path}")
                problems.append("\n".join(lines))
        if args.only != "cycles":
            for f in crate.files:
                _, removed = strip_tests(sanitize(f.read_text(encoding="utf-8")))
                count = len(f.read_text(encoding="utf-8").splitlines()) - removed
                if count > args.max_lines:
                    problems.append(f"too long: {show(f)}: {count} lines (limit {args.max_lines},"
                                    " not counting #[cfg(test)] mod blocks)")
    if problems:
        print("\n".join(problems))
        print(f"check-modules: {len(problems)} problem(s) in {nfiles} files", file=sys.stderr)
        return 1
    what = {"cycles": "no import circle", "size": f"none over {args.max_lines} lines"}
    done = [what[k] for k in ("cycles", "size") if args.only in (None, k)]
    print(f"ok: {nfiles} files, " + ", ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
