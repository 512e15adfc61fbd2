#!/usr/bin/env python
"""Execute notebooks in place, keeping their outputs (figures for the docs), skipping cells flagged
with the test flags of settings.ini (gpu, slow, notest) unless asked with --flags; then nbdev_clean them (only them: other notebooks may be open elsewhere).

    python .ci/run_nbs.py nbs/00_diffusion.ipynb [more.ipynb ...] [--flags slow]
"""
import argparse, os, sys, time
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from nbdev.config import get_config
from nbdev.process import NBProcessor, extract_directives

def run_nb(fn, force_flags=()):
    "Run all cells of `fn` except flagged ones; write outputs back; return seconds taken."
    fn = Path(fn).resolve()
    skip = set(get_config().tst_flags.split()) - set(force_flags)
    nb = read_nb(fn)
    def _skip(cell):
        if cell.cell_type != 'code': return True
        direc = extract_directives(cell, remove=False)
        if direc.get('eval:', [''])[0].lower() == 'false': return True   # as nbdev's test runner and docs do
        return bool(skip & set(direc))
    os.environ['IN_TEST'] = '1'
    t0 = time.time()
    sh = CaptureShell(fn)
    cwd = os.getcwd()
    os.chdir(fn.parent)
    try: sh.run_all(nb, exc_stop=True, preproc=_skip)
    finally: os.chdir(cwd)
    write_nb(nb, fn)
    return time.time() - t0

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('notebooks', nargs='+')
    p.add_argument('--flags', nargs='*', default=[])
    a = p.parse_args()
    for f in a.notebooks:
        print(f'{f}: {run_nb(f, a.flags):.1f}s', flush=True)
        os.system(f'nbdev_clean --fname "{f}"')
