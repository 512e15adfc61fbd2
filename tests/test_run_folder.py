"""Run folders end to end (issues 13 and 21): a run folder never loses a user's data or leaks a key, and it is an append-only log.

Every journey here is a tiny CPU one (32², two steps, the Gaussian prior). The director is a loopback
`FakeChatServer` that records every request's headers, so a test sees where an API key went. Kills are
real (SIGKILL, no cleanup runs) and happen at a chosen write, not after a delay, so no test depends on timing."""
import hashlib, json, os, shutil, signal, subprocess, sys
from pathlib import Path
import imageio_ffmpeg, mediapy, numpy as np, pytest
import dreamjourney.core, dreamjourney.run_folder, dreamjourney.pointcloud
from dreamjourney.cli import main as cli
from dreamjourney.evaluate import evaluate_run
from dreamjourney.export import export_world
from dreamjourney.gaussian_prior import landscape_image
from dreamjourney.journey import Journey, JourneyLock, JourneySettings, run_journey, resume_journey
from dreamjourney.pointcloud import PointCloud, load_ply, save_ply
from dreamjourney.run_folder import RunFolder, video_frame_ends
from dreamjourney.run_format import check_cameras, check_journey_state
from dreamjourney.testing import FakeChatServer, canned_reply
from dreamjourney.video import ffmpeg_exe

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
    "Move the commit point back to the end of the first `stages` stages, as a run interrupted there leaves it."
    RunFolder.open(d).rewind(stages)

def subprocess_env()->dict:
    "The environment of a child process: this checkout's package first."
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]),
            'OMP_NUM_THREADS': '1'}

CLI = [sys.executable, '-c', 'import sys; from dreamjourney.cli import main; sys.exit(main())']

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    "An uninterrupted journey of the settings every test uses."
    return run_journey(image(), tmp_path_factory.mktemp('ref')/'j', settings(), progress=False).out

def listing(d:Path, sub:str)->list: return sorted(p.name for p in (d/sub).iterdir())

def untimed(x):
    "A record without its timings (they differ from run to run)."
    return ({k: untimed(v) for k, v in x.items() if k not in ('seconds', 'wall_seconds', 'seconds_per_frame', 'peak_memory_gib', 'peak_memory_measure')} if isinstance(x, dict)
            else [untimed(v) for v in x] if isinstance(x, list) else x)

def assert_same_journey(d, ref):
    "`d` finished and holds the same frames, per-stage clouds, exported world, cameras, video and stages as the uninterrupted `ref`, bit for bit."
    d, ref = Path(d), Path(ref)
    for sub in ('frames', 'cloud'):
        assert listing(d, sub) == listing(ref, sub), sub
        for name in listing(ref, sub): assert (d/sub/name).read_bytes() == (ref/sub/name).read_bytes(), name
    assert json.loads((d/'cameras.json').read_text()) == json.loads((ref/'cameras.json').read_text())
    assert (d/'journey.mp4').read_bytes() == (ref/'journey.mp4').read_bytes(), 'the videos differ'
    st, rs = json.loads((d/'journey.json').read_text()), json.loads((ref/'journey.json').read_text())
    mediapy.set_ffmpeg(ffmpeg_exe())
    assert mediapy.read_video(d/'journey.mp4').shape[0] == imageio_ffmpeg.count_frames_and_secs(d/'journey.mp4')[0] == st['frames_written']
    dj, rj = RunFolder.open(d), RunFolder.open(ref)
    assert [st[k] for k in ('status', 'frames_written', 'stages_written', 'video_bytes')] == [rs[k] for k in ('status', 'frames_written', 'stages_written', 'video_bytes')]
    assert untimed(list(dj.records())) == untimed(list(rj.records()))
    assert np.array_equal(dj.poses(), rj.poses())
    check_cameras(json.loads((d/'cameras.json').read_text()), check_journey_state(st, d/'journey.json'), d/'cameras.json', dj.poses())
    world = lambda x: Path(export_world(x, 'ply', x.parent/f'{x.name}-world.ply', force=True, progress=False)['path']).read_bytes()
    assert world(d) == world(ref), 'the exported worlds differ'
    assert not [p for p in d.rglob('*.tmp')] and not [p for p in d.rglob('.*') if p.name != '.lock'], 'temporary files left behind'

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

# (file, which write of it in the run, when): 'before' the write, 'rename' (its temporary file written, not yet renamed), 'after',
# 'half' (an append cut off: half its bytes written). The run writes, per stage, files of its own and bytes at the end of two logs:
# stage 0 (I): cloud/000000.ply, frames 1-5, journey.mp4 append #0, stages.jsonl append #0, journey.json #0; stage 1 (II): frames 6-8,
# journey.mp4 #1, stages.jsonl #1, journey.json #1; stage 2 (I): cloud/000002.ply, frames 9-13, journey.mp4 #2, stages.jsonl #2,
# journey.json #2; stage 3 (II): frames 14-16, journey.mp4 #3, stages.jsonl #3, journey.json #3; then cameras.json and journey.json #4
# (status done). The first 11 windows are those of the layout before the log (a cloud file where cloud.ply was rewritten).
WINDOWS = {
    'cloud-before': ('000002.ply', 0, 'before'),
    'cloud-renaming': ('000002.ply', 0, 'rename'),
    'cloud-after': ('000002.ply', 0, 'after'),           # a cloud file no commit accounts for
    'frames-between': ('000011.png', 0, 'before'),       # frames 9 and 10 of the stage written
    'frame-renaming': ('000011.png', 0, 'rename'),
    'frames-after': ('000013.png', 0, 'after'),          # every frame of the stage, nothing committed
    'stage2-frames-between': ('000015.png', 0, 'before'),
    'cameras-renaming': ('cameras.json', 0, 'rename'),   # every stage committed, cameras.json written, not yet in place
    'commit-renaming': ('journey.json', 2, 'rename'),
    'commit-after': ('journey.json', 2, 'after'),
    'done-before': ('journey.json', 4, 'before'),        # every stage and cameras.json written, status not yet done
    'video-half': ('journey.mp4', 2, 'half'),            # half of stage 2's piece of the video appended
    'video-after': ('journey.mp4', 2, 'after'),          # its piece appended, its line not
    'line-half': ('stages.jsonl', 2, 'half'),            # half of its line appended
    'line-after': ('stages.jsonl', 2, 'after'),          # its line appended, journey.json not yet
}

def _kill_at(name:str, nth:int, when:str):
    "In this (child) process: SIGKILL ourselves at the `nth` write of a file called `name`."
    real, real_append, real_replace = dreamjourney.core.atomic_write, dreamjourney.run_folder.append_at, os.replace
    count = [-1]
    die = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
    def ours(path):
        if Path(path).name != name: return False
        count[0] += 1; return count[0] == nth
    def write(path, data):
        if not ours(path): return real(path, data)
        if when == 'before': die()
        if when == 'rename': os.replace = die            # atomic_write's temporary file is complete, the rename kills
        out = real(path, data)
        die(); return out
    def append(path, data, at):
        if not ours(path): return real_append(path, data, at)
        if when == 'before': die()
        if when == 'half': real_append(path, data[:len(data)//2], at); die()
        out = real_append(path, data, at); die(); return out
    def replace(src, dst, *a, **kw):                      # whole files streamed to a temporary name (cameras.json)
        if Path(dst).name == name and when == 'rename' and name != 'journey.json' and ours(dst): die()
        return real_replace(src, dst, *a, **kw)
    dreamjourney.run_folder.atomic_write = dreamjourney.pointcloud.atomic_write = write   # every whole-file write of the run folder goes through these
    dreamjourney.run_folder.append_at = append                                             # every append
    dreamjourney.run_folder.os.replace = replace

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
    killed = RunFolder.open(d)                          # opens as it is: what the commit counts is whole
    n, length = killed.frames_written, killed.state['video_bytes']
    assert video_frame_ends(d/'journey.mp4', length)[-1] == (length, n), 'the committed video does not hold exactly the committed frames'
    mediapy.set_ffmpeg(ffmpeg_exe())
    cut = tmp_path/'committed.mp4'; cut.write_bytes((d/'journey.mp4').read_bytes()[:length])
    assert mediapy.read_video(cut).shape[0] == n        # ... and plays as a video of those frames
    resume_journey(d, progress=False)
    assert_same_journey(d, reference)

# --- an append-only log ---------------------------------------------------------------------------------------------------

def test_a_long_journey_never_rewrites_what_it_committed(tmp_path, monkeypatch):
    "30 steps at 32²: every cloud file and frame keeps the inode and mtime it had when its stage committed, and stages.jsonl and journey.mp4 keep every committed prefix."
    seen, real = [], RunFolder.add_stage
    def add_stage(self, record, video, poses, points=None, started=None):
        out = real(self, record, video, poses, points, started)
        files = [self.frame_path(i) for i in range(out['first_frame'], self.frames_written)] + ([self.cloud_path(out['index'])] if points is not None else [])
        seen.append(dict(files={f: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files},
                         prefixes={n: hashlib.sha256((self.out/n).read_bytes()).hexdigest() for n in ('stages.jsonl', 'journey.mp4')},
                         lengths={'stages.jsonl': self.state['stages_bytes'], 'journey.mp4': self.state['video_bytes']}))
        return out
    monkeypatch.setattr(RunFolder, 'add_stage', add_stage)
    j = run_journey(image(), tmp_path/'long', JourneySettings.demo(segments=30, size=32, frames=3, motion_frames=0, seed=3, camera_path=[0]), progress=False)
    assert j.stages_written == 30 and len(seen) == 30 and j.state['status'] == 'done'
    for k, s in enumerate(seen):
        for f, stamp in s['files'].items(): assert (f.stat().st_ino, f.stat().st_mtime_ns) == stamp, f'{f.name} was rewritten after stage {k}'
        for name, length in s['lengths'].items():
            assert hashlib.sha256((j.out/name).read_bytes()[:length]).hexdigest() == s['prefixes'][name], f'{name} changed what stage {k} committed'
    assert sorted(p.name for p in (j.out/'cloud').iterdir()) == [f'{k:06d}.ply' for k in range(30)]
    mediapy.set_ffmpeg(ffmpeg_exe())
    assert mediapy.read_video(j.out/'journey.mp4').shape[0] == j.frames_written == 1 + 30*2

# --- version 1 folders ----------------------------------------------------------------------------------------------------

FIXTURE = ROOT/'tests'/'fixtures'/'v1_journey'   # made by dreamjourney before the log (main at 90130f9): 32², 2 steps, 4 stages

def write_v1(src, dst, stages:int):
    "The folder `src` (the log) in the layout before it, as a run killed after `stages` stages leaves it: journey.json with the poses and the committed stages, one cloud.ply with every stage's points (those of the cut-off stage too), every frame, cameras.json of the committed frames, no video; the records without the ledger's fields, which came later."
    src, dst = Path(src), Path(dst); dst.mkdir()
    shutil.copytree(src/'frames', dst/'frames'); shutil.copy(src/'input.png', dst/'input.png')
    new, recs = json.loads((src/'journey.json').read_text()), list(RunFolder.open(src).records())
    poses, kept = [new['input_pose']] + [p for r in recs for p in r['poses']], recs[:stages]
    n = 1 + sum(r['num_frames'] for r in kept)
    state = {k: new[k] for k in ('format', 'dreamjourney_version', 'settings', 'K')} | dict(version=1, frames_written=n, poses=poses[:n],
             stages=[{k: v for k, v in r.items() if k not in ('poses', 'seconds_per_frame', 'peak_memory_gib', 'peak_memory_measure')} for r in kept], status='interrupted', created=new['created'])
    clouds = [load_ply(src/'cloud'/f"{r['index']:06d}.ply") for r in recs[:stages + 1] if r['kind'] == 'stage1']
    if clouds: save_ply(sum(clouds[1:], clouds[0]), dst/'cloud.ply')
    (dst/'cameras.json').write_text(json.dumps(dict(convention='OpenCV axes (x right, y down, z forward); camera-to-world 4×4', K=new['K'],
                                                    width=32, height=32, poses=poses[:n])))
    (dst/'journey.json').write_text(json.dumps(state, indent=1))
    return dst

def test_the_v1_writer_writes_what_the_old_code_wrote(tmp_path, reference):
    "The layout `write_v1` writes is the fixture's, made by the old code: the same files and the same keys."
    d = write_v1(reference, tmp_path/'v1', 4)
    fx = json.loads((FIXTURE/'journey.json').read_text()); ours = json.loads((d/'journey.json').read_text())
    assert set(ours) == set(fx) and set(ours['stages'][0]) == set(fx['stages'][0]) and set(ours['stages'][1]) == set(fx['stages'][1])
    assert {p.name for p in d.iterdir()} == {p.name for p in FIXTURE.iterdir()} - {'journey.mp4'}
    check_journey_state(ours, d/'journey.json')

def test_an_old_folder_opens_is_evaluated_and_exported(tmp_path):
    "The fixture, made by the code before the log: evaluated and exported as it is, then migrated on open, evaluated and exported the same."
    d = shutil.copytree(FIXTURE, tmp_path/'v1')
    before = evaluate_run(d); world = export_world(d, 'ply', tmp_path/'before.ply', progress=False)
    assert Path(world['path']).read_bytes() == (FIXTURE/'cloud.ply').read_bytes()
    j = Journey.open(d)
    assert j.state['version'] == 2 and not (d/'cloud.ply').exists() and j.done
    resume_journey(d, progress=False)                   # finished: nothing to run, cameras.json written again from the log
    assert json.loads((d/'cameras.json').read_text())['poses'] == json.loads((FIXTURE/'cameras.json').read_text())['poses']
    after = evaluate_run(d)
    assert {k: v for k, v in after.items() if k != 'run'} == {k: v for k, v in before.items() if k != 'run'}
    assert Path(export_world(d, 'ply', tmp_path/'after.ply', progress=False)['path']).read_bytes() == (FIXTURE/'cloud.ply').read_bytes()
    for f in (FIXTURE/'frames').iterdir(): assert (d/'frames'/f.name).read_bytes() == f.read_bytes()

@pytest.mark.parametrize('stages', [0, 1, 3])
def test_an_old_interrupted_folder_resumes_to_the_same_journey(tmp_path, stages, reference):
    "A version 1 folder killed after `stages` stages (with the cut-off stage's frames and points left in it) migrates on resume and finishes as the uninterrupted journey."
    d = write_v1(reference, tmp_path/'v1', stages)
    resume_journey(d, progress=False)
    assert_same_journey(d, reference)

# --- refused operations change nothing, in the folder or beside it ------------------------------------------------------------
# 09d_journey checks --force through `run_journey` onto a non-journey folder, the folder holding the input and the current folder;
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
