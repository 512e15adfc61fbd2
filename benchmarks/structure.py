#!/usr/bin/env python
"""The package's structure, as a new contributor meets it (issue 20):

1. the module import graph: for every module, the package modules it imports at top level and inside
   functions (counted separately), the cycles, and every import up the reading order (a module importing one
   whose notebook comes later; the reading order is the order of the nbs/ file names that export each module);
2. lines per module, and the five largest exported notebook cells;
3. the modules the input image passes through in Stage I, in order: a real `stage_one` call on the CPU demo
   settings, traced with `sys.setprofile` (the module of the innermost dreamjourney frame, at every call and return).

    python benchmarks/structure.py [--size 64] [--no-trace] [--root CHECKOUT]

(`--root` reads another checkout's nbs/ and dreamjourney/; put that checkout first on PYTHONPATH for the trace.)
"""
import argparse, ast, json, os, re, sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG, NBS = ROOT/'dreamjourney', ROOT/'nbs'

def exported_modules()->dict:
    "module → (position in the reading order, notebook): the first notebook (by file name) that exports to it."
    out = {}
    for i, nb in enumerate(sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))):
        cells = json.loads(nb.read_text())['cells']
        default = None
        for c in cells:
            src = ''.join(c['source'])
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M)
            if m: default = m[1]
        for c in cells:
            if c['cell_type'] != 'code': continue
            m = re.match(r'#\|\s*(?:export|exports)\b[ \t]*(\S*)', ''.join(c['source']))
            if m:
                mod = m[1] or default
                if mod and mod not in out: out[mod] = (i, nb.name)
    return out

def _target(node, mod:str)->list:
    "Package modules an import node names, seen from module `mod`."
    if isinstance(node, ast.ImportFrom):
        if node.level:   # relative: from .x import y / from . import x
            base = node.module
            return [base] if base else [a.name for a in node.names]
        if node.module and node.module.startswith('dreamjourney'):
            rest = node.module[len('dreamjourney'):].lstrip('.')
            return [rest] if rest else [a.name for a in node.names if (PKG/f'{a.name}.py').exists()]
        return []
    return [a.name[len('dreamjourney.'):] for a in node.names if a.name.startswith('dreamjourney.')]

def import_graph()->dict:
    "module → {'top': set, 'function': set} of package modules imported."
    g = {}
    for f in sorted(PKG.glob('*.py')):
        if f.stem.startswith('_'): continue
        tree = ast.parse(f.read_text())
        top, fn = set(), set()
        def visit(node, in_fn):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.Import, ast.ImportFrom)):
                    (fn if in_fn else top).update(t for t in _target(ch, f.stem) if t != f.stem)
                visit(ch, in_fn or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))
        visit(tree, False)
        g[f.stem] = dict(top=top, function=fn)
    return g

def cycles(g:dict)->list:
    "Strongly connected components with more than one module (top-level and function-level imports together)."
    edges = {m: (v['top'] | v['function']) & set(g) for m, v in g.items()}
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def strong(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in edges[v]:
            if w not in index: strong(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index: strong(v)
    return out

def lesson_imports_up(order:dict)->list:
    "(notebook, module it imports, that module's notebook): any cell of a lesson (tests and hidden cells too) importing a later lesson's module."
    nbs = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
    pos = {p.name: i for i, p in enumerate(nbs)}
    out = []
    for nb in nbs:
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] != 'code': continue
            for m in re.findall(r'(?:from|import)\s+dreamjourney\.(\w+)', ''.join(c['source'])):
                if m in order and order[m][0] > pos[nb.name]: out.append((nb.name, m, order[m][1]))
    return sorted(set(out))

def largest_cells(k:int=5)->list:
    "(lines, notebook, cell id, first line) of the k longest exported cells."
    out = []
    for nb in sorted(NBS.glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            src = ''.join(c['source'])
            if c['cell_type'] == 'code' and re.match(r'#\|\s*exports?\b', src):
                body = src.splitlines()
                out.append((len(body), nb.name, c.get('id', '?'), next((l for l in body[1:] if l.strip()), '')[:70]))
    return sorted(out, reverse=True)[:k]

def report_static():
    order = exported_modules()
    g = import_graph()
    pos = lambda m: order.get(m, (-1, '?'))[0]
    print('## Import graph (module [notebook]: top-level imports | function-level imports)')
    for m in sorted(g, key=pos):
        print(f"  {m:16s} [{order.get(m, (0, '?'))[1]}]: {', '.join(sorted(g[m]['top'])) or '-'} | {', '.join(sorted(g[m]['function'])) or '-'}")
    nt, nf = sum(len(v['top']) for v in g.values()), sum(len(v['function']) for v in g.values())
    print(f"  edges: {nt} top-level, {nf} function-level")
    cyc = cycles(g)
    print(f"## Cycles: {len(cyc)}" + ''.join(f"\n  {' ↔ '.join(c)}" for c in cyc))
    up = [(m, t, kind) for m, v in g.items() for kind in ('top', 'function') for t in sorted(v[kind]) if t in order and pos(t) > pos(m)]
    print(f"## Imports up the reading order (a module importing a later notebook's module): {len(up)}")
    for m, t, kind in sorted(up, key=lambda x: (pos(x[0]), x[1])):
        print(f"  {m} [{order[m][1]}] imports {t} [{order[t][1]}] ({'top level' if kind == 'top' else 'inside a function'})")
    up_nb = lesson_imports_up(order)
    print(f"## Lessons importing a later lesson (any cell, tests included): {len(up_nb)}")
    for nb, m, other in up_nb: print(f"  {nb} imports {m} [{other}]")
    print('## Lines per module')
    sizes = {f.stem: len(f.read_text().splitlines()) for f in PKG.glob('*.py') if not f.stem.startswith('_')}
    for m, n in sorted(sizes.items(), key=lambda kv: -kv[1]): print(f"  {m:16s} {n:5d}")
    print(f"  total {sum(sizes.values())}; largest {max(sizes.values())}; over 600: {', '.join(m for m, n in sizes.items() if n > 600) or 'none'}")
    print('## The five largest exported cells (lines, notebook, cell id, first line)')
    for n, nb, cid, first in largest_cells(): print(f"  {n:4d}  {nb:26s} {cid}  {first}")
    return order

def trace_stage_one(size:int)->tuple:
    """One Stage I on the CPU demo settings, traced: (`path`, `calls`). `path`: the module of the innermost package frame
    after every call and return (consecutive repeats merged). `calls`: the package functions that receive the input
    image itself as an argument, in order, as module.function."""
    import torch
    from dreamjourney.gaussian_prior import landscape_image
    from dreamjourney.core import image_to_tensor
    try:    # after issue 20: settings, stages and the loop apart
        from dreamjourney.settings import JourneySettings
        from dreamjourney.stages import stage_one, load_components, journey_intrinsics
        new = True
    except ImportError:
        from dreamjourney.journey import JourneySettings, stage_one, load_components, journey_intrinsics
        new = False
    s = JourneySettings.demo(segments=1, size=size)
    parts = load_components(s)
    image = image_to_tensor(landscape_image(size, size, seed=0))
    K = journey_intrinsics(size, size)
    pkg = str(PKG) + os.sep
    path, calls, stack = [], [], []
    def prof(frame, event, arg):
        if event not in ('call', 'return'): return
        f = frame.f_code.co_filename
        if not f.startswith(pkg): return
        m = Path(f).stem
        if event == 'call':
            stack.append(m)
            if any(v is image for v in frame.f_locals.values()):
                name = f"{m}.{frame.f_code.co_qualname if hasattr(frame.f_code, 'co_qualname') else frame.f_code.co_name}"
                if not calls or calls[-1] != name: calls.append(name)
        elif stack: stack.pop()
        cur = stack[-1] if stack else None
        if cur is not None and (not path or path[-1] != cur): path.append(cur)
    sys.setprofile(prof)
    try:
        if new: stage_one(s, parts, image, K, step=0, seed=0, progress=False)
        else: stage_one(s, parts, image, K, 0, 0, progress=False)
    finally: sys.setprofile(None)
    return path, calls

def _compress(seq:list)->str:
    "A module path with its ping-pong runs (a → b → a → b …) written once with a count."
    out, i = [], 0
    while i < len(seq):
        j = i
        while j + 2 < len(seq) and seq[j + 2] == seq[i] and seq[j + 1] == seq[i + 1]: j += 2
        if j > i: out.append(f"({seq[i]} ⇄ {seq[i + 1]})×{(j - i)//2 + 1}"); i = j + 1
        else: out.append(seq[i]); i += 1
    return ' → '.join(out)

def report_trace(order:dict, size:int):
    path, calls = trace_stage_one(size)
    pos = lambda m: order.get(m, (-1, '?'))[0]
    print(f"## Stage I, traced (stage_one on the CPU demo settings at {size}²)")
    print("  The input image itself, in order (package functions that receive it as an argument):")
    print('    ' + ' → '.join(calls))
    mods = [c.split('.')[0] for c in calls]
    mods = [m for k, m in enumerate(mods) if k == 0 or mods[k - 1] != m]
    print(f"    modules: {' → '.join(mods)}")
    moves = list(zip(path, path[1:]))
    left, back = set(), 0
    for a, b in moves:
        left.add(a); back += b in left
    print("  Every call and return (the module of the innermost package frame; ping-pong runs counted):")
    print('    ' + _compress(path))
    entries = Counter(path)
    print(f"    {len(entries)} modules, {len(moves)} moves: {sum(pos(b) < pos(a) for a, b in moves)} to an earlier lesson, "
          f"{sum(pos(b) > pos(a) for a, b in moves)} to a later one; {back} return to a module already left")
    print(f"    entries per module: {', '.join(f'{m} {n}' for m, n in entries.most_common())}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=64, help='frame size of the traced Stage I (the trace does not depend on it)')
    p.add_argument('--no-trace', action='store_true', help='only the static part')
    p.add_argument('--root', type=Path, default=ROOT, help='the checkout to read [default: this one]')
    a = p.parse_args()
    ROOT = a.root.resolve(); PKG, NBS = ROOT/'dreamjourney', ROOT/'nbs'
    order = report_static()
    if not a.no_trace: report_trace(order, a.size)
