"""The package as `pip install dreamjourney` delivers it: the core requirements cover every module-level import
of the library, every other third-party import is declared in an extra, a journey runs with none of the extras
and no ffmpeg on the PATH, and setup.py's metadata says what settings.ini means."""
import ast, functools, importlib.metadata as md, os, re, runpy, subprocess, sys, textwrap
from configparser import ConfigParser
from pathlib import Path
import pytest, setuptools

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT/'dreamjourney'
# imports that need no declaration: IPython is there whenever `_ipython_display_` is called (IPython calls it)
UNDECLARED_OK = {'IPython', 'pyarrow'}   # IPython: only IPython calls the display hooks; pyarrow: batch writes Parquet only where it is installed

def _cfg():
    c = ConfigParser(delimiters=['=']); c.read(ROOT/'settings.ini', encoding='utf-8'); return c['DEFAULT']

def _norm(name): return re.sub(r'[-_.]+', '-', name).lower()
def _names(reqs): return {_norm(re.match(r'[A-Za-z0-9._-]+', r).group()) for r in reqs.split()}

def _extras():
    "{extra: set of distribution names} from settings.ini's `<extra>_requirements` keys."
    c = _cfg()
    return {k[:-len('_requirements')]: _names(c[k]) for k in c if k.endswith('_requirements')}

@functools.cache
def _providers(): return md.packages_distributions()

def _dists(module):
    "Distributions that provide a top-level module (the module's own name when none is installed)."
    return {_norm(d) for d in _providers().get(module, [module])}

def _imports(tree, top_only):
    "Top-level names of the absolute imports in a module (only those run at import time when `top_only`)."
    if top_only:
        nodes, todo = [], list(tree.body)
        while todo:   # module level, including inside top-level if/try blocks, but not in functions or classes
            n = todo.pop()
            if isinstance(n, (ast.Import, ast.ImportFrom)): nodes.append(n)
            elif isinstance(n, (ast.If, ast.Try, ast.With)): todo += [c for c in ast.iter_child_nodes(n) if isinstance(c, ast.stmt)]
    else: nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    out = set()
    for n in nodes:
        if isinstance(n, ast.ImportFrom):
            if n.level == 0 and n.module: out.add(n.module.split('.')[0])
        else: out |= {a.name.split('.')[0] for a in n.names}
    return {m for m in out if m not in sys.stdlib_module_names and m not in ('__future__', 'dreamjourney')}

def _modules(): return {p.stem: ast.parse(p.read_text(encoding='utf-8')) for p in sorted(LIB.glob('*.py'))}

def test_core_covers_module_level_imports():
    "`import dreamjourney.<any module>` needs nothing outside the core requirements."
    core = _names(_cfg()['requirements'])
    missing = {f'{mod}: {m}' for mod, tree in _modules().items() for m in _imports(tree, True) if not _dists(m) & core}
    assert not missing, f'module-level imports not in settings.ini requirements (make them lazy, or declare them): {sorted(missing)}'

def test_every_import_is_declared():
    "Every third-party import of the library (lazy ones included) is in the core or in an extra."
    declared = _names(_cfg()['requirements']).union(*_extras().values())
    missing = {f'{mod}: {m}' for mod, tree in _modules().items() for m in _imports(tree, False)
               if m not in UNDECLARED_OK and not _dists(m) & declared}
    assert not missing, f'imports declared nowhere in settings.ini: {sorted(missing)}'

def test_extras_hold_no_core_and_dev_tools_stay_out_of_core():
    core, ex = _names(_cfg()['requirements']), _extras()
    for tool in ['jupyterlab', 'nbdev', 'execnb', 'ghapi', 'pytest', 'playwright', 'build', 'scipy', 'open3d', 'plotly', 'ipywidgets', 'ray']:
        assert tool not in core, f'{tool} is a core requirement: `pip install dreamjourney` would pull it'
    for name, reqs in ex.items():   # [dev] may tighten a core requirement for the tests (transformers)
        if name != 'dev': assert not reqs & core, f'[{name}] repeats core requirements: {reqs & core}'

def _setup_kwargs():
    "The keyword arguments setup.py passes to setuptools.setup (setup itself is not run)."
    got = {}
    orig, setuptools.setup = setuptools.setup, lambda **kw: got.update(kw)
    try: runpy.run_path(str(ROOT/'setup.py'), run_name='__main__')
    finally: setuptools.setup = orig
    return got

def test_setup_metadata():
    kw = _setup_kwargs()
    assert 'Development Status :: 3 - Alpha' in kw['classifiers'], kw['classifiers']   # settings.ini: status = 3
    assert kw['license_expression'] == 'Apache-2.0' and not any(c.startswith('License ::') for c in kw['classifiers'])
    ex = kw['extras_require']
    assert set(ex['all']) == set(ex['notebooks']) | set(ex['open3d']) | set(ex['ray'])
    assert set(ex['all']) < set(ex['dev']) and {'pytest', 'build'} <= _names(' '.join(ex['dev']))
    assert not _names(' '.join(ex['all'])) & {'timm', 'torchvision'}, 'timm pulls torchvision, which CI forbids: keep it out of [all]'
    assert all(u.startswith('https://') for u in kw['project_urls'].values()), kw['project_urls']

def test_readme_links_are_absolute():
    "README.md is the PyPI page: relative links and images break there."
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    links = re.findall(r'\]\(([^)\s]+)', text) + re.findall(r'src="([^"]+)"', text)
    assert links, 'no links found'
    rel = [l for l in links if not re.match(r'(https?://|#|mailto:)', l)]
    assert not rel, f'relative links in README.md (written by .ci/make_readme.py): {rel}'

BLOCKED_RUN = textwrap.dedent('''
    import sys, importlib, pkgutil
    for m in {blocked!r}: sys.modules[m] = None          # `import m` now raises ImportError, find_spec(m) is None
    import dreamjourney
    for info in pkgutil.iter_modules(dreamjourney.__path__): importlib.import_module('dreamjourney.' + info.name)
    import mediapy, shutil; assert shutil.which('ffmpeg') is None
    mediapy.set_ffmpeg('ffmpeg')                          # as in a fresh process: the default, not found on this PATH
    from dreamjourney.journey import demo
    j = demo('run', segments=1, size=32, frames=4, motion_frames=2, progress=False)   # writes its mp4 with imageio-ffmpeg's binary
    from dreamjourney.video import ffmpeg_exe
    mediapy.set_ffmpeg(ffmpeg_exe())                      # the check reads it back with that binary too (none is on the PATH)
    assert j.state['status'] == 'done' and mediapy.read_video('run/journey.mp4').shape[0] == j.state['frames_written']
    print('journey without extras: ok')
''')

def _closure(names):
    "The installed distributions that `names` require, themselves included (extras' requirements left out)."
    from packaging.requirements import Requirement
    seen, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n in seen: continue
        seen.add(n)
        try: reqs = md.requires(n) or []
        except md.PackageNotFoundError: continue
        for r in map(Requirement, reqs):
            if r.marker is None or r.marker.evaluate({'extra': ''}): todo.append(_norm(r.name))
    return seen

def test_journey_without_extras_or_ffmpeg(tmp_path):
    "Every module imports and a small journey runs, writing its mp4, with the extras' modules blocked and no ffmpeg on the PATH."
    core = _closure(_names(_cfg()['requirements']))
    extra = set().union(*_extras().values()) - core
    top = {m for m, ds in _providers().items() if {_norm(d) for d in ds} & extra}
    blocked = sorted(m for m in top | {_norm(d).replace('-', '_') for d in extra} if not m.startswith('_'))
    (tmp_path/'bin').mkdir()
    env = {**os.environ, 'PATH': str(tmp_path/'bin'), 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])}
    r = subprocess.run([sys.executable, '-c', BLOCKED_RUN.format(blocked=blocked)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f'blocked: {blocked}\n{r.stderr[-3000:]}'
    assert 'journey without extras: ok' in r.stdout
