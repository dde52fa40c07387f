#!/usr/bin/env python3
"""The engine's module dependency graph: cycles and layer rules.

    python3 scripts/modgraph.py            # prints the graph, its cycles and broken layer rules
    python3 scripts/modgraph.py --dot      # the graph in Graphviz dot

A module is a file (`sync/mirror.rs` is `sync::mirror`, `sync/mirror/mod.rs` likewise). An edge
A -> B means code in A names an item of B: a `use crate::…`/`use super::…` tree or an inline
`crate::…` path. Unit tests (`#[cfg(test)] mod tests`) are left out: they may reach anywhere.
A parent's `pub use child::Item` is a re-export, not a dependency: a path through the parent
counts as a dependency on the child that defines the item.

Exit status: 0 when there is no cycle and no broken layer rule, 1 otherwise.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATE = os.path.join(ROOT, "daemon", "src")

# Layers, lowest first: a module may depend on its own layer and those listed after "uses".
# The first matching prefix names a module's layer.
LAYERS = [
    ("util", ["pause", "retry", "http", "clock", "lock", "tls"], []),
    ("backend", ["backend"], ["util"]),
    ("stores", ["alias", "location"], ["util", "backend"]),
    ("sync", ["sync"], ["util", "backend", "stores"]),
    ("milvus", ["milvus"], ["util", "backend", "stores", "sync"]),
    ("daemon", ["config", "jobs", "watch", "control"], ["util", "backend", "stores", "sync", "milvus"]),
]


def layer_of(module):
    for name, prefixes, _ in LAYERS:
        for p in prefixes:
            if module == p or module.startswith(p + "::"):
                return name
    return None


def modules():
    """module path -> file"""
    out = {}
    for dirpath, _, files in os.walk(CRATE):
        rel = os.path.relpath(dirpath, CRATE)
        if rel.startswith("bin"):
            continue
        for f in files:
            if not f.endswith(".rs"):
                continue
            parts = [] if rel == "." else rel.split(os.sep)
            stem = f[:-3]
            if stem not in ("mod", "lib"):
                parts.append(stem)
            out["::".join(parts)] = os.path.join(dirpath, f)
    return out


def strip(text):
    """Drop comments, string literals and the unit-test module."""
    m = re.search(r"#\[cfg\(test\)\]\s*mod tests\b", text)
    if m:
        text = text[: m.start()]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def expand(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]"""
    tree = tree.strip()
    i = tree.find("{")
    if i < 0:
        return [re.sub(r"\s+as\s+\w+$", "", tree)] if tree else []
    prefix, inner = tree[:i], tree[i + 1 : tree.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    out = []
    for it in items:
        for e in expand(it):
            out.append(prefix + e if e != "self" else prefix.rstrip(":"))
    return out


def paths_of(module, text):
    """Absolute module paths (`crate::…` without `crate::`) this file names."""
    here = module.split("::") if module else []
    out = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        out.extend(expand(m.group(1)))
    out.extend(re.findall(r"\bcrate(?:::\w+)+", text))
    out.extend(re.findall(r"\bsuper(?:::\w+)+", text))
    resolved = []
    for p in out:
        p = re.sub(r"\s+", "", p)
        segs = p.split("::")
        if segs[0] == "crate":
            resolved.append(segs[1:])
        elif segs[0] == "super":
            base = list(here)
            while segs and segs[0] == "super":
                segs = segs[1:]
                base = base[:-1]
            resolved.append(base + segs)
        elif segs[0] == "self":
            resolved.append(here + segs[1:])
        elif "::".join(here + segs[:1]) in MODFILE:
            resolved.append(here + segs)  # a child module, named from its parent
    return resolved


def reexports(mods, texts):
    """(parent, item) -> child module defining it, from `pub use child::…` lines."""
    out = {}
    for mod, text in texts.items():
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for p in expand(m.group(1)):
                segs = re.sub(r"\s+", "", p).split("::")
                if segs[0] in ("self",):
                    segs = segs[1:]
                if not segs:
                    continue
                child = (mod + "::" if mod else "") + segs[0]
                if child in mods and len(segs) > 1:
                    out[(mod, segs[-1])] = child
                    if segs[-1] == "*":
                        out[(mod, "*")] = child
    return out


def resolve(segs, mods, rex):
    """The longest known module prefix, following re-exports of its next segment."""
    best = None
    for n in range(len(segs), 0, -1):
        cand = "::".join(segs[:n])
        if cand in mods:
            best = cand
            if n < len(segs) and (cand, segs[n]) in rex:
                best = rex[(cand, segs[n])]
            break
    return best


MODFILE = {}


def main():
    mods = modules()
    texts = {}
    for mod, path in mods.items():
        MODFILE[mod] = path.endswith(("mod.rs", "lib.rs"))
        with open(path) as f:
            texts[mod] = strip(f.read())
    rex = reexports(mods, texts)
    edges = {m: set() for m in mods}
    for mod, text in texts.items():
        # a parent's `pub use child::…` re-exports: not a dependency
        own_rex = set()
        for m in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            own_rex.update(re.sub(r"\s+", "", p) for p in expand(m.group(1)))
        for segs in paths_of(mod, text):
            if not segs:
                continue
            target = resolve(segs, mods, rex)
            if target is None or target == mod or target == "":
                continue
            if MODFILE[mod] and target.startswith(mod + "::" if mod else "") and "::".join(segs) in {
                (mod + "::" if mod else "") + r.removeprefix("self::") for r in own_rex
            }:
                continue
            if mod == "":
                continue  # lib.rs only declares modules
            edges[mod].add(target)

    if "--dot" in sys.argv:
        print("digraph engine {")
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f'  "{a}" -> "{b}";')
        print("}")
        return 0

    # Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
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
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            strong(v)
    cycles = [sorted(c) for c in sccs if len(c) > 1]

    allowed = {name: set(uses) | {name} for name, _, uses in LAYERS}
    broken = []
    for a in sorted(edges):
        la = layer_of(a)
        for b in sorted(edges[a]):
            lb = layer_of(b)
            if la is None or lb is None:
                broken.append(f"{a} -> {b}: a module in no layer")
            elif lb not in allowed[la]:
                broken.append(f"{a} ({la}) -> {b} ({lb})")

    print("module dependencies (daemon/src, unit tests left out):")
    for a in sorted(edges):
        print(f"  {a or 'lib'} [{layer_of(a)}] -> {', '.join(sorted(edges[a])) or '-'}")
    print(f"cycles: {len(cycles)}")
    for c in cycles:
        print("  " + " <-> ".join(c))
    print(f"broken layer rules: {len(broken)}")
    for b in broken:
        print("  " + b)
    # Crate rules: the engine library leaves binaries' concerns to the binaries; the
    # manifest knows no store.
    crate_rules = [
        ("daemon/Cargo.toml", ["clap", "anyhow", "tracing-subscriber"]),
        ("state/Cargo.toml", ["ferry-engine", "aws-sdk-s3", "aws-config"]),
    ]
    for manifest, banned in crate_rules:
        deps = dependencies(os.path.join(ROOT, manifest))
        for b in banned:
            if b in deps:
                broken.append(f"{manifest} depends on {b}")
    print(f"crate rules: {sum(len(b) for _, b in crate_rules)} checked")
    print(f"broken rules in all: {len(broken)}")
    return 1 if cycles or broken else 0


def dependencies(cargo_toml):
    """Names in [dependencies] (not dev- or build-dependencies)."""
    names, section = set(), None
    with open(cargo_toml) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
                continue
            if section == "[dependencies]" and "=" in line and not line.startswith("#"):
                names.add(line.split("=")[0].split(".")[0].strip())
    return names


if __name__ == "__main__":
    sys.exit(main())
