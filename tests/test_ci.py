"""CI runs exactly what the README tells a newcomer to run."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _readme_commands():
    "The README's two set-up commands: the first two shell blocks (install and run; test)."
    return [b.strip() for b in re.findall(r'```sh\n(.*?)```', (ROOT/'README.md').read_text(encoding='utf-8'), re.S)][:2]

def test_readme_has_two_commands():
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    assert all('\n' not in c for c in cmds), 'each README command is one line to copy'
    assert 'pip install' in cmds[0] and 'pytest' in cmds[1], cmds

def test_ci_runs_readme_commands():
    ci = (ROOT/'.ci'/'run').read_text(encoding='utf-8').splitlines()
    for cmd in _readme_commands(): assert cmd in ci, f'.ci/run does not run the README command: {cmd}'
