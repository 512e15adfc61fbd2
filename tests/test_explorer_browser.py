"""The explorer as a user meets it: JupyterLab on a loopback port, `11_explorer` opened in headless
Chromium (Debian's, driven by Playwright), run, the λ slider moved, and the shown frames must change.

Needs Debian's `chromium` and the `playwright` Python package (both installed by the README's first
command). Where they are missing the test is skipped, unless DREAMJOURNEY_REQUIRE_BROWSER=1 (set by
CI), where it fails."""
import json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync']

def _need(ok, why):
    if ok: return
    if os.environ.get('DREAMJOURNEY_REQUIRE_BROWSER') == '1': pytest.fail(why)
    pytest.skip(why)

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on a free loopback port, serving a copy of the explorer notebook."
    nb = json.loads((ROOT/'nbs'/'11_explorer.ipynb').read_text())
    nb['metadata']['kernelspec'] = {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}
    (tmp_path/'11_explorer.ipynb').write_text(json.dumps(nb))
    port, token = _free_port(), 'dreamjourney-test'
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'JUPYTER_PLATFORM_DIRS': '1'}
    env.pop('IN_TEST', None)
    # the widgets' front end lives in <prefix>/share/jupyter; a venv made with --system-site-packages sees the base one only through this
    shares = [str(Path(p)/'share'/'jupyter') for p in dict.fromkeys([sys.prefix, sys.base_prefix])]
    env['JUPYTER_PATH'] = os.pathsep.join(shares + ([env['JUPYTER_PATH']] if env.get('JUPYTER_PATH') else []))
    p = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', f'--port={port}', '--ip=127.0.0.1',
                          f'--ServerApp.token={token}', f'--ServerApp.root_dir={tmp_path}', '--ServerApp.disable_check_xsrf=True',
                          '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                         cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f'http://127.0.0.1:{port}'
    for _ in range(120):
        try: urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=1); break
        except OSError: time.sleep(0.5)
    else: p.kill(); pytest.fail('JupyterLab did not start within 60 s')
    yield url, token
    p.terminate()
    try: p.wait(10)
    except subprocess.TimeoutExpired: p.kill()

def _dismiss_dialogs(page, seconds=8):
    "Answer JupyterLab's start-up dialogs: no rebuild (an extension of another package asks for one), keep the kernel."
    end = time.time() + seconds
    while time.time() < end:
        d = page.locator('.jp-Dialog')
        if d.count():
            text = d.first.inner_text()
            label = 'Select' if 'Kernel' in text else 'Cancel'
            btn = d.first.locator('button', has_text=label)
            try: (btn.first if btn.count() else d.first.locator('button').first).click(timeout=5000)
            except Exception: pass   # the dialog closed on its own
            end = max(end, time.time() + 2)
        time.sleep(0.5)

def test_lambda_slider_changes_frames(lab, tmp_path_factory):
    _need(CHROMIUM is not None, 'Debian chromium is not installed (apt-get install chromium)')
    try: from playwright.sync_api import sync_playwright
    except ImportError: _need(False, 'playwright is not installed (pip install -e ".[dev]")')
    url, token = lab
    shot = tmp_path_factory.mktemp('browser')/'explorer.png'
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        page.goto(f'{url}/lab/tree/11_explorer.ipynb?token={token}', timeout=120_000)
        page.wait_for_selector('.jp-Notebook', timeout=120_000)
        _dismiss_dialogs(page)
        page.locator('.lm-MenuBar-item', has_text='Run').first.click()
        page.locator('.lm-Menu-item', has_text='Run All Cells').first.click()
        img = page.locator('img.widget-image').first
        end = time.time() + 300
        while time.time() < end and not (img.count() and img.is_visible()):
            _dismiss_dialogs(page, 1)   # a dialog (kernel choice, rebuild) may come up late on a busy machine
        if not (img.count() and img.is_visible()):
            page.screenshot(path=str(shot), full_page=True)
            pytest.fail(f'the explorer widget did not appear within 300 s (screenshot: {shot})')
        img.scroll_into_view_if_needed()
        time.sleep(1)
        before = img.screenshot()
        slider = page.locator('.widget-slider', has=page.locator('.widget-label', has_text='λ (dps)')).first
        readout = slider.locator('.widget-readout')
        readout.click(); page.keyboard.press('Control+A'); page.keyboard.type('0.001'); page.keyboard.press('Enter')
        for _ in range(240):
            time.sleep(0.5)
            after = img.screenshot()
            if after != before: break
        browser.close()
    assert after != before, 'moving the λ slider did not change the frames shown by the explorer'
