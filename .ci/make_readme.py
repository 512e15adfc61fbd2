#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb without Quarto (nbdev_readme needs it).

Markdown cells are copied; code cells not marked `#| hide` become ```python blocks followed by
their text output; image links `images/...` and notebook links `NN_name.ipynb` are rewritten to
`nbs/...` so they work on GitHub and PyPI. `--check` exits 1 when README.md differs from what would be written.
"""
import json, re, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
HEADER = '<!-- Generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file. -->\n\n'

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
    parts = []
    for cell in nb['cells']:
        src = _src(cell)
        if cell['cell_type'] == 'markdown':
            src = re.sub(r'\]\((images/)', r'](nbs/\1', src)
            src = re.sub(r'src="(images/)', r'src="nbs/\1', src)
            src = re.sub(r'\]\(([\w-]+\.ipynb)\)', r'](nbs/\1)', src)
            parts.append(src.strip())
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
