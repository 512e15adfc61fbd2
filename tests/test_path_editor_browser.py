"""The path editor as a user meets it: JupyterLab on a loopback port, `11a_preview` opened in headless Chromium
(Debian's, driven by Playwright) and run; keyframe 1 chosen and moved through its slider, and the view shown must
change; the path saved through the editor's own widgets, and the file must be read back by `load_camera_path` equal
to what the editor holds (asked of the kernel) and carrying the move.

It reuses the explorer test's helpers (tests/test_explorer_browser.py): the skip rule, the JupyterLab server, the dialog
answering, the limits. Like that test, it waits on states (kernel idle, every cell run, the image's source replaced,
the status saying "saved"), never on fixed sleeps, so a loaded machine makes it slow, not failing."""
import time
from pathlib import Path
import pytest
import torch
from test_explorer_browser import ARGS, CHROMIUM, LIMIT, _dismiss_dialogs, _need, lab_serving

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = '11a_preview.ipynb'
MOVED_X = 0.75   # where keyframe 1 is moved to (its x, right of the start camera)

@pytest.fixture
def lab(tmp_path):
    "JupyterLab serving a copy of the preview notebook."
    with lab_serving(NOTEBOOK, tmp_path) as (url, token): yield url, token, tmp_path

# What the lab's front end knows about the notebook (window.jupyterapp: JupyterLab started with expose_app_in_browser).
NB_STATE = """name => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {app: false};
  const nb = Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path.endsWith(name) && w.content && w.content.widgets);
  if (!nb) return {app: true, notebook: false};
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  const code = nb.content.widgets.filter(c => c.model.type === 'code').map(c => c.model.sharedModel);
  const errors = code.flatMap(m => m.outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue));
  return {app: true, notebook: true, id: nb.id, ready: nb.sessionContext.isReady, kernel: kernel ? kernel.status : null,
          code: code.length, done: code.filter(m => m.execution_count !== null && m.executionState !== 'running').length, errors};
}"""

# Run code in the notebook's kernel and return what it printed (the test asks the editor what it holds).
KERNEL_RUN = """async ([name, code]) => {
  const nb = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path.endsWith(name) && w.content);
  const future = nb.sessionContext.session.kernel.requestExecute({code, store_history: false});
  let out = '';
  future.onIOPub = msg => { if (msg.header.msg_type === 'stream') out += msg.content.text;
                            if (msg.header.msg_type === 'error') out += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue; };
  await future.done;
  return out;
}"""

def _wait(page, what, ok, seconds, shot):
    "Poll the notebook's state (answering dialogs) until `ok(state)`; fail after `seconds` with the state and a screenshot."
    t0, state = time.time(), None
    while time.time() - t0 < seconds:
        _dismiss_dialogs(page)
        state = page.evaluate(NB_STATE, NOTEBOOK)
        if state.get('errors'): pytest.fail(f'a cell of {NOTEBOOK} raised: {state["errors"]}')
        if ok(state): return time.time() - t0
        time.sleep(0.5)
    page.screenshot(path=str(shot), full_page=True)
    pytest.fail(f'{what}: not within {seconds} s; notebook state {state} (screenshot: {shot})')

def _new_image(page, img, src, what, shot):
    "Wait until the image widget shows a new PNG (its source replaced and loaded)."
    try: page.wait_for_function('([img, src]) => img.getAttribute("src") !== src && img.complete && img.naturalWidth > 0',
                                arg=[img.element_handle(), src], polling=500)
    except Exception:
        page.screenshot(path=str(shot), full_page=True)
        pytest.fail(f'{what}: the editor sent no new view within {LIMIT} s; notebook state {page.evaluate(NB_STATE, NOTEBOOK)} (screenshot: {shot})')

def test_move_keyframe_and_save(lab, tmp_path_factory):
    _need(CHROMIUM is not None, 'Debian chromium is not installed (apt-get install chromium)')
    try: from playwright.sync_api import sync_playwright
    except ImportError: _need(False, 'playwright is not installed (pip install -e ".[dev]")')
    from dreamjourney.paths import load_camera_path
    url, token, folder = lab
    shot = tmp_path_factory.mktemp('browser')/'path_editor.png'
    took = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        page.set_default_timeout(LIMIT*1000)
        page.goto(f'{url}/lab/tree/{NOTEBOOK}?token={token}', wait_until='domcontentloaded')
        # 1. the notebook open, its kernel idle; run every cell with JupyterLab's own command, wait until each ran
        took['kernel idle'] = _wait(page, 'the notebook and an idle kernel', lambda s: s.get('ready') and s.get('kernel') == 'idle', LIMIT, shot)
        state = page.evaluate(NB_STATE, NOTEBOOK)
        assert state['done'] == 0, f'the notebook copy must start unexecuted: {state}'
        page.evaluate("id => { window.jupyterapp.shell.activateById(id); window.jupyterapp.commands.execute('notebook:run-all-cells'); }", state['id'])
        took['run all'] = _wait(page, 'every cell run', lambda s: s['done'] == s['code'] and s['kernel'] == 'idle', LIMIT, shot)
        # 2. the editor's view is shown (the only Image widget of the notebook)
        img = page.locator('img.widget-image').first
        img.wait_for(state='visible'); img.scroll_into_view_if_needed()
        page.wait_for_function('img => img.complete && img.naturalWidth > 0', arg=img.element_handle())
        # 3. choose keyframe 1 as a user does (the dropdown), then move it with its x slider (typed into the readout)
        t0, src = time.time(), img.get_attribute('src')
        page.locator('.widget-dropdown', has=page.locator('label', has_text='keyframe')).locator('select').select_option(label='1')
        _new_image(page, img, src, 'choosing keyframe 1', shot)
        before, src = img.screenshot(), img.get_attribute('src')
        readout = page.locator('.widget-slider', has=page.locator('.widget-label', has_text='x (right)')).first.locator('.widget-readout')
        readout.click(); page.keyboard.press('Control+A'); page.keyboard.type(str(MOVED_X)); page.keyboard.press('Enter')
        _new_image(page, img, src, 'moving keyframe 1', shot)
        after = img.screenshot()
        took['move'] = time.time() - t0
        # 4. save through the widgets: a file name whose format is nerfstudio's, the save button, wait for the status
        t0 = time.time()
        page.locator('.widget-text', has=page.locator('label', has_text='file')).locator('input').fill('edited_camera_path.json')
        page.locator('button', has_text='save').click()
        status = page.locator('.widget-html', has_text='saved').first
        try: status.wait_for(state='visible')
        except Exception:
            page.screenshot(path=str(shot), full_page=True)
            pytest.fail(f'the editor did not say it saved within {LIMIT} s (screenshot: {shot})')
        took['save'] = time.time() - t0
        # 5. what the editor holds, asked of the kernel: its own save of the same path in our format
        said = page.evaluate(KERNEL_RUN, [NOTEBOOK, "print(editor.save_to('reference.json', 'dreamjourney'), editor.keyframes[1].x)"])
        browser.close()
    print('browser test phases (s): ' + ', '.join(f'{k} {v:.1f}' for k, v in took.items()))
    assert after != before, 'moving keyframe 1 did not change the view the editor shows'
    assert 'ERROR' not in said and said.split()[-1] == str(MOVED_X), f'the kernel answered {said!r}'
    saved, held = load_camera_path(folder/'edited_camera_path.json'), load_camera_path(folder/'reference.json')
    assert saved.format == 'nerfstudio', saved
    assert len(saved) == len(held) == 16
    torch.testing.assert_close(saved.poses, held.poses, atol=1e-6, rtol=0)
    torch.testing.assert_close(saved.K, held.K, atol=1e-3, rtol=1e-6)
    assert saved.size == held.size == (96, 96)
    torch.testing.assert_close(saved.poses[0], torch.eye(4), atol=1e-6, rtol=0)                              # the start keyframe
    assert abs(saved.poses[-1, 0, 3].item() - MOVED_X) < 1e-5, saved.poses[-1]                               # the moved keyframe ends the path
