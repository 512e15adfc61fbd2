"""Run folders end to end (issue 13): a run folder never loses a user's data or leaks a key.

Every journey here is a tiny CPU one (32², two steps, the Gaussian prior). The director is a loopback
`FakeChatServer` that records every request's headers, so a test sees where an API key went. Kills are
real (SIGKILL, no cleanup runs) and happen at a chosen write, not after a delay, so no test depends on timing."""
import hashlib, json, os, signal, subprocess, sys
from pathlib import Path
import pytest
import dreamjourney.core, dreamjourney.run_folder, dreamjourney.pointcloud
from dreamjourney.cli import main as cli
from dreamjourney.gaussian_prior import landscape_image
from dreamjourney.journey import Journey, JourneyLock, JourneySettings, run_journey, resume_journey
from dreamjourney.run_folder import check_cameras, check_journey_state
from dreamjourney.testing import FakeChatServer, canned_reply

ROOT = Path(__file__).resolve().parent.parent
KW = dict(segments=2, size=32, frames=6, motion_frames=4, seed=3)   # stages: I (5 frames), II (3), I (5), II (3): 17 frames
KEY = 'sk-test-7f3a9c'                                               # the user's API key

def settings(**kw): return JourneySettings.demo(**{**KW, **kw})
def image(): return landscape_image(32, 32, seed=3)
def save_image(path):
    "The start image as a PNG file at `path`."
    from PIL import Image
    Path(path).parent.mkdir(parents=True, exist_ok=True); Image.fromarray(image()).save(path); return Path(path)

def digest(d)->dict:
    "sha256 of every file under `d`, by relative path."
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(d).rglob('*')) if p.is_file()}

def rewind(d, stages:int=1):
    "Edit journey.json back to its first `stages` stages, as a run interrupted there leaves it."
    f = Path(d)/'journey.json'; st = json.loads(f.read_text())
    st['stages'] = st['stages'][:stages]
    st['frames_written'] = 1 + sum(r['num_frames'] for r in st['stages'])
    st['poses'] = st['poses'][:st['frames_written']]; st['status'] = 'interrupted'
    f.write_text(json.dumps(st))

def subprocess_env()->dict:
    "The environment of a child process: this checkout's package first."
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]),
            'OMP_NUM_THREADS': '1'}

CLI = [sys.executable, '-c', 'import sys; from dreamjourney.cli import main; sys.exit(main())']

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "An uninterrupted journey of the settings every test uses."
    return run_journey(image(), tmp_path_factory.mktemp('ref')/'j', settings(), progress=False).out

def assert_same_journey(d, ref):
    "`d` finished and holds the same frames, cameras, cloud and stages as the uninterrupted `ref`, bit for bit."
    d, ref = Path(d), Path(ref)
    frames = lambda x: sorted(p.name for p in (x/'frames').iterdir())
    assert frames(d) == frames(ref)
    for name in frames(ref): assert (d/'frames'/name).read_bytes() == (ref/'frames'/name).read_bytes(), name
    assert (d/'cloud.ply').read_bytes() == (ref/'cloud.ply').read_bytes()
    assert json.loads((d/'cameras.json').read_text()) == json.loads((ref/'cameras.json').read_text())
    st, rs = json.loads((d/'journey.json').read_text()), json.loads((ref/'journey.json').read_text())
    untimed = lambda x: ({k: untimed(v) for k, v in x.items() if k not in ('seconds', 'wall_seconds')} if isinstance(x, dict)
                         else [untimed(v) for v in x] if isinstance(x, list) else x)   # timings differ from run to run
    assert (st['status'], st['frames_written'], st['poses'], untimed(st['stages'])) == (rs['status'], rs['frames_written'], rs['poses'], untimed(rs['stages']))
    check_cameras(json.loads((d/'cameras.json').read_text()), check_journey_state(st, d/'journey.json'), d/'cameras.json')
    assert not [p for p in d.rglob('*.tmp')], 'temporary files left behind'

# --- where the API key goes ---------------------------------------------------------------------------------------------

@pytest.fixture
def user_env(monkeypatch, tmp_path):
    "The user's key in OPENAI_API_KEY, no OPENAI_BASE_URL yet, and a director cache of this test's own."
    monkeypatch.setenv('OPENAI_API_KEY', KEY)
    monkeypatch.delenv('OPENAI_BASE_URL', raising=False)
    monkeypatch.setenv('DREAMJOURNEY_CACHE', str(tmp_path/'cache'))

@pytest.mark.parametrize('how', ['OPENAI_BASE_URL', 'director_base_url', 'cli --base-url'])
def test_resume_sends_the_key_only_to_the_endpoint_the_user_names(tmp_path, user_env, monkeypatch, how, reference):
    "Run against server A (named by OPENAI_BASE_URL), resume naming server B: B gets the key, A gets nothing more."
    d = tmp_path/'j'
    with FakeChatServer(default=canned_reply) as A, FakeChatServer(default=canned_reply) as B:
        monkeypatch.setenv('OPENAI_BASE_URL', A.base_url)
        run_journey(image(), d, settings(director='some-model'), progress=False)
        assert A.authorizations and set(A.authorizations) == {f'Bearer {KEY}'}
        seen_by_a = len(A.headers)
        rewind(d, 1)
        if how == 'OPENAI_BASE_URL': monkeypatch.setenv('OPENAI_BASE_URL', B.base_url); resume_journey(d, progress=False)
        else:
            monkeypatch.delenv('OPENAI_BASE_URL')
            if how == 'director_base_url': resume_journey(d, progress=False, director_base_url=B.base_url)
            else: assert cli(['resume', d, '--device', 'cpu', '--base-url', B.base_url]) == 0
        assert len(A.headers) == seen_by_a, 'the resumed journey talked to the server of the first run'
        assert B.authorizations and set(B.authorizations) == {f'Bearer {KEY}'}
    assert json.loads((d/'journey.json').read_text())['status'] == 'done'

def test_resume_refuses_an_endpoint_written_into_the_folder(tmp_path, user_env, monkeypatch):
    "journey.json edited to name server A while the user's environment names B: resume refuses and A hears nothing."
    d = tmp_path/'j'
    with FakeChatServer(default=canned_reply) as A, FakeChatServer(default=canned_reply) as B:
        monkeypatch.setenv('OPENAI_BASE_URL', B.base_url)
        run_journey(image(), d, settings(director='some-model'), progress=False)
        rewind(d, 1)
        st = json.loads((d/'journey.json').read_text()); st['settings']['director_base_url'] = A.base_url
        (d/'journey.json').write_text(json.dumps(st))
        before, heard_by_b = digest(d), len(B.headers)
        with pytest.raises(ValueError, match='would send your API key there'): resume_journey(d, progress=False)
        with pytest.raises(ValueError, match='would send your API key there'): resume_journey(d, progress=False, director_base_url=B.base_url)
        assert cli(['resume', d, '--device', 'cpu']) == 2
        assert A.headers == [] and len(B.headers) == heard_by_b
        assert digest(d) == before, 'a refused resume changed the folder'
        # --trust-endpoint is the user saying "send it to the stored endpoint": then, and only then, A gets the key
        resume_journey(d, progress=False, trust_stored_endpoint=True)
        assert A.authorizations and set(A.authorizations) == {f'Bearer {KEY}'} and len(B.headers) == heard_by_b

def test_credentials_in_the_endpoint_never_reach_the_folder(tmp_path, user_env):
    "user:password in --director-base-url (run) and --base-url (resume) are used (httpx sends them as Basic auth), and written nowhere in the run folder or the cache."
    d, img = tmp_path/'j', save_image(tmp_path/'photo.png')
    secrets = [b'alice7q', b'hunter2xyz', b'bob9w', b'hunter3abc', KEY.encode()]
    with FakeChatServer(default=canned_reply) as B:
        url = lambda user, pw: B.base_url.replace('http://', f'http://{user}:{pw}@')
        assert cli(['run', img, '--out', d, '--device', 'cpu', '--director', 'some-model', '--director-base-url', url('alice7q', 'hunter2xyz'),
                    *[a for k, v in KW.items() for a in (f"--{k.replace('_', '-')}", v)]]) == 0
        heard = len(B.headers); assert heard > 0
        rewind(d, 1)
        assert cli(['resume', d, '--device', 'cpu', '--base-url', url('bob9w', 'hunter3abc'), '--no-cache']) == 0   # same endpoint: ask again
        assert len(B.headers) > heard, 'the resume did not use the endpoint it was given'
    files = [p for p in list(d.rglob('*')) + list((tmp_path/'cache').rglob('*')) if p.is_file()]
    assert any(p.name == 'journey.json' for p in files) and any(p.parent.name == 'director' or 'cache' in p.parts for p in files)
    leaks = [(str(p.relative_to(tmp_path)), s.decode()) for p in files for s in secrets if s in p.read_bytes()]
    assert not leaks, f'credentials written to disk: {leaks}'
    assert json.loads((d/'journey.json').read_text())['settings']['director_base_url'] == B.base_url

# --- one process per folder ---------------------------------------------------------------------------------------------

def test_a_second_process_stops_at_the_lock(tmp_path, reference):
    "While this process holds the folder's lock, `dreamjourney resume` in another process exits 2 naming the lock and changes nothing."
    d = tmp_path/'j'; Journey.create(image(), d, settings())
    with JourneyLock(d):
        before = digest(d)
        r = subprocess.run([*CLI, 'resume', str(d), '--device', 'cpu'], capture_output=True, text=True, env=subprocess_env(), timeout=600)
        assert r.returncode == 2, r.stderr[-2000:]
        assert 'another process is working on' in r.stderr and '.lock' in r.stderr
        assert digest(d) == before
    resume_journey(d, progress=False)
    assert_same_journey(d, reference)

def test_two_resumes_at_once(tmp_path, reference):
    "Two `dreamjourney resume` processes started together: each either finishes the journey or stops at the lock; the result is the uninterrupted journey."
    d = tmp_path/'j'; Journey.create(image(), d, settings())
    ps = [subprocess.Popen([*CLI, 'resume', str(d), '--device', 'cpu'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
          for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in ps]
    rcs = [p.returncode for p in ps]
    assert 0 in rcs and set(rcs) <= {0, 2}, (rcs, [e[-2000:] for _, e in outs])
    for rc, (_, err) in zip(rcs, outs):
        if rc == 2: assert 'another process is working on' in err, err[-2000:]
    assert_same_journey(d, reference)

# --- a kill in every write window -----------------------------------------------------------------------------------------

# (file, which write of it in the run, when): 'before' the write, 'rename' (its temporary file written, not yet renamed), 'after'.
# The run writes: stage 0 (I): cloud.ply #0, frames 1-5, cameras.json #0, journey.json #0; stage 1 (II): frames 6-8, cameras #1,
# journey #1; stage 2 (I): cloud.ply #1, frames 9-13, cameras #2, journey #2; stage 3 (II): frames 14-16, cameras #3, journey #3;
# then journey.mp4, cameras #4 and journey #4 (status done).
WINDOWS = {
    'cloud-before': ('cloud.ply', 1, 'before'),
    'cloud-renaming': ('cloud.ply', 1, 'rename'),
    'cloud-after': ('cloud.ply', 1, 'after'),            # cloud.ply holds points no commit accounts for
    'frames-between': ('000011.png', 0, 'before'),       # frames 9 and 10 of the stage written
    'frame-renaming': ('000011.png', 0, 'rename'),
    'frames-after': ('000013.png', 0, 'after'),          # every frame of the stage, nothing committed
    'stage2-frames-between': ('000015.png', 0, 'before'),
    'cameras-after': ('cameras.json', 2, 'after'),       # cameras.json a stage ahead of journey.json
    'commit-renaming': ('journey.json', 2, 'rename'),
    'commit-after': ('journey.json', 2, 'after'),
    'done-before': ('journey.json', 4, 'before'),        # every stage and the video written, status not yet done
}

def _kill_at(name:str, nth:int, when:str):
    "In this (child) process: SIGKILL ourselves at the `nth` write of a file called `name`."
    real = dreamjourney.core.atomic_write
    count = [-1]
    die = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    def write(path, data):
        if Path(path).name != name: return real(path, data)
        count[0] += 1
        if count[0] != nth: return real(path, data)
        if when == 'before': die()
        if when == 'rename': os.replace = die           # atomic_write's temporary file is complete, the rename kills
        out = real(path, data)
        die(); return out
    dreamjourney.run_folder.atomic_write = dreamjourney.pointcloud.atomic_write = write   # every run-folder write goes through these

@pytest.mark.parametrize('window', list(WINDOWS))
def test_killed_in_a_write_window_resumes_to_the_same_journey(tmp_path, window, reference):
    d = tmp_path/'j'; Journey.create(image(), d, settings())
    pid = os.fork()
    if pid == 0:                                        # the child: run until the kill; reaching the end means no kill happened
        try:
            _kill_at(*WINDOWS[window]); Journey.open(d).run(progress=False)
        finally: os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f'the run was not killed in {window} (status {status})'
    resume_journey(d, progress=False)
    assert_same_journey(d, reference)

# --- refused operations change nothing, in the folder or beside it ------------------------------------------------------------
# 09c_journey checks --force through `run_journey` onto a non-journey folder, the folder holding the input and the current folder;
# here the command line, with every file in and beside the folder checksummed, and the parent-of cases.

@pytest.mark.parametrize('case', ['not-a-journey', 'input-inside', 'input-deeper', 'cwd-inside'])
def test_refused_force_changes_nothing(tmp_path, monkeypatch, case, capsys):
    home = tmp_path/'home'; home.mkdir(); (home/'beside.txt').write_text('next to the folder')
    d = home/'out'
    if case == 'not-a-journey': d.mkdir(); (d/'thesis.tex').write_text('years of work')
    else: Journey.create(image(), d, settings())                        # a journey: --force may replace it, unless it holds the input or the cwd
    img = save_image({'input-inside': d/'photo.png', 'input-deeper': d/'inputs'/'photo.png'}.get(case, home/'photo.png'))
    if case == 'cwd-inside': (d/'frames'/'sub').mkdir(); monkeypatch.chdir(d/'frames'/'sub')
    before = digest(tmp_path)
    rc = cli(['run', img, '--out', d, '--force', '--device', 'cpu', *[a for k, v in KW.items() for a in (f"--{k.replace('_', '-')}", v)]])
    err = capsys.readouterr().err
    assert rc == 2 and ('not a dreamjourney journey' in err if case == 'not-a-journey' else 'holds' in err), err
    assert digest(tmp_path) == before
