"""One pytest test per notebook: each runs through nbdev's own test runner (`nbdev.test.test_nb`),
so a notebook passes here exactly when `nbdev_test` would pass it. Cells flagged with the
settings.ini test flags (`slow`, `gpu`, `notest`) are skipped; set DREAMJOURNEY_TEST_FLAGS="slow"
(space-separated) to run flagged cells too, as `nbdev_test --flags slow` does."""
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook_test

ROOT = Path(__file__).resolve().parent.parent
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, capsys):
    os.chdir(ROOT)
    flags = get_config().tst_flags.split()
    force = os.environ.get('DREAMJOURNEY_TEST_FLAGS', '').split()
    ok, secs = run_notebook_test(nb, skip_flags=flags, force_flags=force, basepath=ROOT)
    assert ok, f'{nb.name} failed (traceback above)'
