"""CI runs exactly what the README tells a contributor to run, and the README tells a user to `pip install dreamjourney`."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def _readme(): return (ROOT/'README.md').read_text(encoding='utf-8')

def _sh_blocks(text): return [b.strip() for b in re.findall(r'```sh\n(.*?)```', text, re.S)]

def _readme_commands():
    "The README's two set-up commands: the first two shell blocks of its 'From source' section (install and run; test)."
    text = _readme()
    m = re.search(r'^#+ From source\b.*$', text, re.M)
    assert m, 'README.md has no "From source" section'
    return _sh_blocks(text[m.end():])[:2]

def test_readme_tells_users_pip_install():
    assert _sh_blocks(_readme())[0] == 'pip install dreamjourney', 'the README\'s first command is the user\'s install'

def test_readme_has_two_commands():
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    assert all('\n' not in c for c in cmds), 'each README command is one line to copy'
    assert 'pip install' in cmds[0] and 'pytest' in cmds[1], cmds

def test_ci_runs_readme_commands():
    ci = (ROOT/'.ci'/'run').read_text(encoding='utf-8').splitlines()
    for cmd in _readme_commands(): assert cmd in ci, f'.ci/run does not run the README command: {cmd}'
