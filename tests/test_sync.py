"""The repository is what the notebooks say: the library is their export, the notebooks are clean,
README.md is generated from nbs/index.ipynb, and the docs source processes. Each check works on a
copy, so it never changes the working tree."""
import os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _copy_project(tmp):
    for name in ['settings.ini', 'setup.py', '_quarto.yml', 'README.md']: shutil.copy(ROOT/name, tmp/name)
    for d in ['nbs', 'dreamjourney', '.ci']: shutil.copytree(ROOT/d, tmp/d, symlinks=True, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    return tmp

def _env():
    "The environment for nbdev commands: without IN_TEST, which nbdev's notebook runner leaves set in a test worker and which makes nbdev_export do nothing."
    env = dict(os.environ); env.pop('IN_TEST', None); return env

def _tree(d): return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob('*')) if p.is_file() and '__pycache__' not in p.parts}

def _differ(a, b):
    ta, tb = _tree(a), _tree(b)
    return sorted(str(k) for k in ta.keys() | tb.keys() if ta.get(k) != tb.get(k))

def test_library_is_notebook_export(tmp_path):
    "dreamjourney/ equals what nbdev_export writes from nbs/."
    _copy_project(tmp_path)
    shutil.rmtree(tmp_path/'dreamjourney')
    subprocess.run(['nbdev_export'], cwd=tmp_path, check=True, env=_env())
    diff = _differ(ROOT/'dreamjourney', tmp_path/'dreamjourney')
    diff = [d for d in diff if not d.startswith('assets')]
    detail = ''
    if diff:
        import difflib
        a, b = ROOT/'dreamjourney'/diff[0], tmp_path/'dreamjourney'/diff[0]
        if not a.exists() or not b.exists(): detail = f'{diff[0]}: only in {"the export" if b.exists() else "dreamjourney/"}'
        else: detail = ''.join(list(difflib.unified_diff(a.read_text().splitlines(True), b.read_text().splitlines(True), 'dreamjourney', 'export'))[:20])
    assert not diff, f'run nbdev_export and commit: {diff}\n{detail}'

def test_notebooks_are_clean(tmp_path):
    "nbdev_clean changes nothing."
    _copy_project(tmp_path)
    subprocess.run(['nbdev_clean'], cwd=tmp_path, check=True, env=_env())
    diff = _differ(ROOT/'nbs', tmp_path/'nbs')
    assert not diff, f'run nbdev_clean and commit: {diff}'

def test_readme_in_sync():
    subprocess.run([sys.executable, str(ROOT/'.ci'/'make_readme.py'), '--check'], check=True)

def test_docs_source_processes(tmp_path):
    """nbdev_proc_nbs (the docs pre-processing step) runs on every notebook. Where Quarto is missing,
    nbdev would try to download it and then `pip install -e` the copy, re-pointing the installed package:
    we skip that step (only it) and run the same pre-processing."""
    _copy_project(tmp_path)
    code = 'import nbdev.quarto as q; q._ensure_quarto = lambda: None; q._pre_docs()'
    r = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    procd = {p.name for p in (tmp_path/'_proc').glob('*.ipynb')}
    want = {p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_')}
    assert want <= procd, want - procd

def test_no_notebook_exports_while_tested():
    "A notebook that calls nbdev_export() would rewrite dreamjourney/ while other tests read it."
    for nb in (ROOT/'nbs').glob('*.ipynb'):
        assert 'nbdev_export()' not in nb.read_text(encoding='utf-8'), f'{nb.name} calls nbdev_export(): remove that cell'

def test_the_course_table_lists_every_notebook():
    "The index's course table (and so the README) names every lesson in nbs/, in reading order: a new notebook is not hidden from the reader."
    import json, re
    text = ''.join(''.join(c['source']) for c in json.loads((ROOT/'nbs'/'index.ipynb').read_text())['cells'] if c['cell_type'] == 'markdown')
    listed = re.findall(r'^\| \[([0-9][^\]]*)\]\(\1\.ipynb\)', text, re.M)
    lessons = sorted(p.stem for p in (ROOT/'nbs').glob('[0-9]*.ipynb'))
    assert listed == lessons, f'missing from the course table: {sorted(set(lessons) - set(listed))}; not a notebook: {sorted(set(listed) - set(lessons))}; or out of order'
