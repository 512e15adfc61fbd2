#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs it).

Markdown cells are copied; code cells not marked `#| hide` become ```python blocks followed by
their text output. README.md is also the package's PyPI page, where relative links break: every relative
link (relative to nbs/, where the notebook lives) becomes absolute, from settings.ini's `git_url` and `branch`:
images to raw.githubusercontent.com, other files (notebooks, folders) to their GitHub page.
`--check` exits 1 when README.md differs from what would be written.
"""
import json, posixpath, re, sys
from configparser import ConfigParser
from pathlib import Path

root = Path(__file__).resolve().parent.parent
HEADER = '<!-- Generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file. -->\n\n'

def repo_urls(settings=root/'settings.ini'):
    "(raw file prefix, GitHub page prefix) of the repository's files on its default branch."
    cfg = ConfigParser(delimiters=['=']); cfg.read(settings, encoding='utf-8'); cfg = cfg['DEFAULT']
    git_url, branch = cfg['git_url'].rstrip('/'), cfg['branch']
    m = re.fullmatch(r'https://github\.com/([^/]+/[^/]+?)(?:\.git)?', git_url)
    if not m: raise ValueError(f"settings.ini git_url must be https://github.com/OWNER/REPO, got {git_url!r}")
    return f'https://raw.githubusercontent.com/{m[1]}/{branch}/', f'{git_url}/blob/{branch}/'

def _is_absolute(url): return re.match(r'([a-z][a-z0-9+.-]*:|#|/)', url, re.I) is not None

def absolute_links(md, raw, page):
    "Markdown with its relative image sources (raw) and link targets (page) made absolute; paths are relative to nbs/."
    def fix(prefix): return lambda m: m[1] + (m[2] if _is_absolute(m[2]) else prefix + posixpath.normpath('nbs/' + m[2]))
    md = re.sub(r'(!\[[^\]]*\]\()([^)\s]+)', fix(raw), md)              # ![alt](images/x.jpg)
    md = re.sub(r'(<[a-z]+\b[^>]*?\bsrc=")([^"]+)', fix(raw), md)       # <img src="images/x.jpg">, <video src=...>
    md = re.sub(r'((?<!!)\[[^\]]*\]\()([^)\s]+)', fix(page), md)        # [text](01_x.ipynb)
    return md

def _src(cell): return ''.join(cell['source']) if isinstance(cell['source'], list) else cell['source']

def _directives(src): return [l for l in src.splitlines() if l.startswith('#|')]

def _text_outputs(cell):
    for o in cell.get('outputs', []):
        if o.get('output_type') == 'stream': yield ''.join(o['text'])
        elif 'data' in o and 'text/markdown' in o['data']: yield ('md', ''.join(o['data']['text/markdown']))
        elif 'data' in o and 'text/plain' in o['data'] and not any(k.startswith('image/') or k == 'text/html' for k in o['data']):
            yield ''.join(o['data']['text/plain'])

def readme_text(nb_path=root/'nbs'/'index.ipynb'):
    "The README's text made from the index notebook."
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    raw, page = repo_urls()
    parts = []
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown': parts.append(absolute_links(src, raw, page).strip())
        elif cell['cell_type'] == 'code':
            direc = ' '.join(_directives(src))
            if 'hide' in direc or 'export' in direc or 'default_exp' in direc: continue
            code = '\n'.join(l for l in src.splitlines() if not l.startswith('#|')).strip()
            if 'echo: false' not in direc and code: parts.append(f'```python\n{code}\n```')
            for out in _text_outputs(cell):
                if isinstance(out, tuple): parts.append(out[1].strip())
                elif out.strip(): parts.append(f'```\n{out.rstrip()}\n```')
    return HEADER + '\n\n'.join(p for p in parts if p) + '\n'

if __name__ == '__main__':
    text, out = readme_text(), root/'README.md'
    if '--check' in sys.argv:
        if not out.exists() or out.read_text(encoding='utf-8') != text:
            sys.exit('README.md is out of sync with nbs/index.ipynb: run `python .ci/make_readme.py`')
        print('README.md is in sync with nbs/index.ipynb')
    else:
        out.write_text(text, encoding='utf-8'); print(f'wrote {out}')
