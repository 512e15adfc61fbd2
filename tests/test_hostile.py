"""Hostile cases (issue 19): what a careful or a careless user does to the `dreamjourney` command, each judged from the
outside, by the command's exit status, what it prints on stderr, and a checksum of the run folder and of the files
beside it (a sibling folder holding a user's file, the target of a link) taken before and after.

Every refusal is expected to look the same: exit status 2, exactly one line on stderr that names the file, field or
option and says what to do, no traceback, and nothing changed (every file's sha256 and the listing, links included).
Cases that do not hold on main yet are marked `xfail(strict=True)`, so each one flips loudly when its fix lands; the
docstring of each says where the fix belongs. Classes: images, options, tampered folders, links, interruptions,
batch reruns.

The command runs in a child process forked from this one (`dj`): a real process, with its own exit status, stdout,
stderr, resource limits and signals, that does not pay torch's import again for every case. It calls the same
`dreamjourney.cli.main` the installed `dreamjourney` script calls, and an uncaught exception ends it as the
interpreter would (a traceback, exit status 1). `test_the_harness_agrees_with_the_installed_command` runs one case
through a fresh interpreter as well. Kills are real (SIGKILL) and happen at a chosen rename of a chosen file, never
after a delay."""
import contextlib, csv, hashlib, io, json, os, re, resource, shutil, signal, struct, subprocess, sys, threading, time, traceback, zlib
from dataclasses import dataclass
from pathlib import Path
import pytest
from PIL import Image
import dreamjourney.cli, dreamjourney.batch, dreamjourney.evaluate, dreamjourney.settings   # imported once here: every forked child finds them loaded
from dreamjourney.camera import save_trajectory
from dreamjourney.run_folder import RunFolder
from dreamjourney.gaussian_prior import landscape_image

ROOT = Path(__file__).resolve().parent.parent
TINY = ['--size', '32', '--frames', '3', '--motion-frames', '2', '--segments', '1']   # stages: I (2 new frames), II (1): 4 frames
RUN = [*TINY, '--device', 'cpu']
XFAIL = pytest.mark.xfail(strict=True, reason='issue 19: fixed after the restructure')

@pytest.fixture(scope='module', autouse=True)
def help_texts_read_once():
    """The command's parser and journey.json's schema take their help texts from source comments (`settings.field_docs`, read once
    per class and process). Here they are read once, before any fork, so that no child reads them again: this changes what a case
    costs, not what it does."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit): dreamjourney.cli.main(['run', '--help'])
    dreamjourney.settings.settings_model()

# --- the harness ------------------------------------------------------------------------------------------------------------

@dataclass
class Ran:
    "What a `dreamjourney` process did: its exit status (-9: killed), stdout and stderr."
    rc: int
    out: str
    err: str
    @property
    def said(self)->list:
        "The lines of stderr that are not progress bars."
        text = re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', self.err)
        return [l.strip() for l in re.split(r'[\r\n]+', text) if l.strip() and not re.search(r'\d+%\|.*\|', l)]

def _drain(fd:int, into:list):
    with os.fdopen(fd, 'rb') as f: into.append(f.read())

def dj(*args, cwd=None, on_replace=None, fsize:int|None=None, memory:int|None=None, timeout:float=300)->Ran:
    """Run `dreamjourney ARGS` in a forked child process. `on_replace(src, dst)` is asked at every rename onto a file
    (the commit of every atomic write): 'before' or 'after' SIGKILLs the child there, 'interrupt' raises
    KeyboardInterrupt (Ctrl-C). `fsize`: no file may grow beyond this many bytes (a full disk, EFBIG); `memory`: bytes of
    address space the child may add (a huge allocation fails at once instead of swapping a shared machine)."""
    pipes = [os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            for (r, w), fd in zip(pipes, (1, 2)): os.close(r); os.dup2(w, fd); os.close(w)
            sys.stdout = open(1, 'w', buffering=1, closefd=False, errors='backslashreplace')
            sys.stderr = open(2, 'w', buffering=1, closefd=False, errors='backslashreplace')
            if cwd is not None: os.chdir(cwd)
            if fsize is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG, as on a full disk
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            if memory is not None:
                used = int(open('/proc/self/statm').read().split()[0])*resource.getpagesize()
                resource.setrlimit(resource.RLIMIT_AS, (used + memory, used + memory))
            if on_replace is not None:
                real = os.replace
                def replace(src, dst, *a, **kw):
                    what = on_replace(Path(src), Path(dst))
                    if what == 'before': os.kill(os.getpid(), signal.SIGKILL)
                    if what == 'interrupt': raise KeyboardInterrupt
                    done = real(src, dst, *a, **kw)
                    if what == 'after': os.kill(os.getpid(), signal.SIGKILL)
                    return done
                os.replace = replace
            try: rc = dreamjourney.cli.main([str(a) for a in args])
            except SystemExit as e: rc = e.code if isinstance(e.code, int) else (0 if e.code is None else (print(e.code, file=sys.stderr), 1)[1])
            except BaseException: traceback.print_exc(); rc = 1   # what the interpreter does with an uncaught exception
        finally:
            try: sys.stdout.flush(); sys.stderr.flush()
            finally: os._exit(rc if isinstance(rc, int) else 1)
    for r, w in pipes: os.close(w)
    got = [[], []]
    readers = [threading.Thread(target=_drain, args=(r, g)) for (r, _), g in zip(pipes, got)]
    for t in readers: t.start()
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done: break
        if time.monotonic() > deadline: os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0); raise TimeoutError(f'dreamjourney {args} ran over {timeout} s')
        time.sleep(0.02)
    for t in readers: t.join()
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return Ran(rc, *(b''.join(g).decode('utf-8', 'replace') for g in got))

def at(name:str, what:str='before', nth:int=0, inside:str|None=None):
    "An `on_replace` hook: `what` at the `nth` rename (0: the first) onto a file called `name` (in a folder called `inside`)."
    seen = [-1]
    def hook(src, dst):
        if dst.name != name or (inside is not None and dst.parent.name != inside): return None
        seen[0] += 1
        return what if seen[0] == nth else None
    return hook

def tree(root)->dict:
    "Every entry under `root` by relative path: a file's sha256, a link's target, or 'folder'. Links are not followed."
    root, out = Path(root), {}
    for here, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(here)/n; k = str(p.relative_to(root))
            if p.is_symlink(): out[k] = 'link → ' + os.readlink(p)
            elif p.is_dir(): out[k] = 'folder'
            else: out[k] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out

def changes(before:dict, after:dict)->list:
    "What differs between two `tree`s, readable in a failing assert."
    return [f"{'added' if k not in before else 'removed' if k not in after else 'changed'} {k}"
            for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]

def assert_refused(r:Ran, *words:str, who:str='dreamjourney'):
    "Exit status 2, no traceback, one line on stderr, from the command, holding every one of `words`."
    assert 'Traceback' not in r.err, f'a traceback (rc {r.rc}):\n{r.err[-3000:]}'
    assert r.rc == 2, f'rc {r.rc}, expected 2:\n{r.err[-3000:]}'
    assert len(r.said) == 1, f'expected one line on stderr, got {len(r.said)}:\n' + '\n'.join(r.said[-10:])
    line = r.said[0]
    assert line.startswith(f'{who}') and 'error' in line, line
    missing = [w for w in words if w not in line]
    assert not missing, f'the message does not name {missing}: {line}'

def write_image(path, seed:int=3, size:int=48)->Path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(landscape_image(size, size, seed=seed)).save(path); return Path(path)

# --- a world per test: a finished journey, a user's folder beside it ---------------------------------------------------------

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "One finished journey made by `dreamjourney run` with the TINY settings; tests copy it."
    d = tmp_path_factory.mktemp('finished')
    r = dj('run', write_image(d/'photo.png'), '--out', d/'run', *RUN)
    assert r.rc == 0, r.err[-3000:]
    return d/'run'

@pytest.fixture
def world(tmp_path):
    "A folder for one test: `home/` with a user's own folder beside where run folders go."
    home = tmp_path/'home'; (home/'mine').mkdir(parents=True)
    (home/'mine'/'thesis.tex').write_text('years of work')
    return home

def copy_run(finished, home:Path, stages:int|None=None)->Path:
    """A copy of the finished journey in `home/run`; with `stages`, as a run killed right after the commit of that many
    stages leaves it: journey.json counts only them, and the later stages' lines, frames, cloud files and video bytes
    are not there (a killed run has no cameras.json either: it is written when the journey is done)."""
    d = home/'run'; shutil.copytree(finished, d, symlinks=True)
    if stages is not None:
        RunFolder.open(d).rewind(stages)                # the commit point moved back; what follows it is cut below
        st = json.loads((d/'journey.json').read_text())
        for name, length in (('stages.jsonl', st['stages_bytes']), ('journey.mp4', st['video_bytes'])): os.truncate(d/name, length)
        for p in (d/'frames').glob('*.png'):
            if int(p.stem) >= st['frames_written']: p.unlink()
        for p in (d/'cloud').glob('*.ply'):
            if int(p.stem) >= stages: p.unlink()
        (d/'cameras.json').unlink()
    return d

def edit_state(d:Path, edit):
    "Apply `edit` to journey.json's dict and write it back."
    st = json.loads((d/'journey.json').read_text()); edit(st); (d/'journey.json').write_text(json.dumps(st))

def frames(d)->dict: return {p.name: p.read_bytes() for p in sorted((Path(d)/'frames').glob('*.png'))}

# --- images ----------------------------------------------------------------------------------------------------------------

def _png_claiming(w:int, h:int)->bytes:
    "A PNG whose header says w×h pixels, with almost no data: a decompression bomb's calling card."
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(b'\0'*64)) + chunk(b'IEND', b'')

def _bad_image(kind:str, path:Path, tmp:Path):
    if kind == 'not-an-image': path.write_text('these are my notes, not a picture')
    elif kind == 'truncated': write_image(tmp/'whole.png'); path.write_bytes((tmp/'whole.png').read_bytes()[:900])
    elif kind == 'empty': path.write_bytes(b'')
    elif kind == 'a-folder': path.mkdir()
    elif kind == 'huge-header': path.write_bytes(_png_claiming(30000, 30000))
    elif kind == 'missing': pass
    else: raise KeyError(kind)

@pytest.mark.parametrize('kind', ['not-an-image', 'truncated', 'empty', 'a-folder', 'huge-header', 'missing'])
def test_images_a_bad_start_image_is_refused_before_any_folder(world, kind, tmp_path):
    img = world/'photo.png'; _bad_image(kind, img, tmp_path)
    before = tree(world)
    assert_refused(dj('run', img, '--out', world/'run', *RUN), 'photo.png')
    assert changes(before, tree(world)) == []

def test_the_harness_agrees_with_the_installed_command(world, tmp_path):
    "One case through a fresh interpreter, as a user's shell runs it: the same exit status and the same line."
    img = world/'photo.png'; _bad_image('not-an-image', img, tmp_path)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])}
    args = ['run', str(img), '--out', str(world/'run'), *RUN]
    p = subprocess.run([sys.executable, '-c', 'import sys; from dreamjourney.cli import main; sys.exit(main())', *args],
                       capture_output=True, text=True, env=env, timeout=600)
    real, forked = Ran(p.returncode, p.stdout, p.stderr), dj(*args)
    assert_refused(real, 'photo.png')
    assert (real.rc, real.said) == (forked.rc, forked.said)

# --- options: refused before anything is created ------------------------------------------------------------------------------

@pytest.mark.parametrize('fps', ['0', '-1'])
def test_options_fps(world, fps):
    "Was: every stage ran, then write_video failed ('Frame-per-second value 0 is invalid'), the folder left 'running'. Fixed: settings RULES (fps)."
    img = write_image(world/'photo.png'); before = tree(world)
    assert_refused(dj('run', img, '--out', world/'run', *RUN, '--fps', fps), 'fps', fps)
    assert changes(before, tree(world)) == []

def test_options_unknown_camera_path_word(world):
    "Was: refused by step_trajectory when Stage I started, after the folder existed. Fixed: settings RULES (check_camera_path_entry)."
    img = write_image(world/'photo.png'); before = tree(world)
    assert_refused(dj('run', img, '--out', world/'run', *RUN, '--camera-path', 'sideways'), 'sideways')
    assert changes(before, tree(world)) == []

def test_options_size_has_an_upper_bound(world):
    "Was: MemoryError in load_input_image (a traceback). Fixed: settings RULES (size ≤ MAX_SIDE)."
    img = write_image(world/'photo.png'); before = tree(world)
    assert_refused(dj('run', img, '--out', world/'run', *RUN[2:], '--size', '100000', memory=4 << 30), 'size', '100000')
    assert changes(before, tree(world)) == []

def _trajectory(world:Path, kind:str)->Path:
    "A trajectory file of 3 poses (one stage of TINY) spoiled as `kind` says."
    f = world/'path.json'
    poses = [[[1., 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -0.01*i], [0, 0, 0, 1]] for i in range(3)]
    save_trajectory(f, poses, K=[[40., 0, 16], [0, 40, 16], [0, 0, 1]], width=32, height=32)
    d = json.loads(f.read_text())
    if kind == 'wrong-pose-count': d['poses'] = d['poses'] + d['poses'][1:]
    elif kind == 'without-K': del d['K']
    elif kind == 'a-list': d = d['poses']
    elif kind == 'nan': d['poses'][1][0][3] = float('nan')
    elif kind == 'not-a-rotation': d['poses'][1][0][0] = 2.0
    f.write_text(json.dumps(d))
    if kind == 'malformed': f.write_text(f.read_text()[:60])
    return f

# Fixed by the camera path check before any folder exists (run_journey / Journey.create → stages.check_camera_path →
# stages.camera_path_entry_poses(resample=False, guess=False)). Were: refused at Stage I after the folder existed (wrong pose count),
# KeyError (without K), AttributeError (a list), and messages without the file's name (malformed, NaN, not a rotation).
@pytest.mark.parametrize('kind', ['wrong-pose-count', 'without-K', 'a-list', 'malformed', 'nan', 'not-a-rotation'])
def test_options_a_bad_trajectory_is_refused_by_name_before_any_folder(world, kind):
    img, f = write_image(world/'photo.png'), _trajectory(world, kind)
    before = tree(world)
    assert_refused(dj('run', img, '--out', world/'run', *RUN, '--camera-path', f), 'path.json')
    assert changes(before, tree(world)) == []

def test_options_a_good_trajectory_runs(world, finished):
    "The unspoiled trajectory of the cases above runs: they fail for what was spoiled, not for the file."
    img, f = write_image(world/'photo.png'), _trajectory(world, 'good')
    r = dj('run', img, '--out', world/'run', *RUN, '--camera-path', f)
    assert r.rc == 0, r.err[-3000:]
    assert len(frames(world/'run')) == len(frames(finished))

# --- tampered folders ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('command', ['resume', 'evaluate'])
def test_tampered_deeply_nested_journey_json(world, finished, command):
    "Was: RecursionError from json.loads (a traceback). Now: RunFolder.open (_journey_json) and read_run (read_json) turn it into one line naming journey.json."
    d = copy_run(finished, world, stages=1)
    (d/'journey.json').write_text('[' * 100_000 + ']' * 100_000)
    before = tree(world)
    r = dj(command, d, *(['--device', 'cpu'] if command == 'resume' else []))
    assert_refused(r, 'journey.json', who='dreamjourney' if command == 'resume' else 'dreamjourney evaluate')
    assert changes(before, tree(world)) == []

@pytest.mark.parametrize('command', ['resume', 'evaluate'])
def test_tampered_truncated_journey_json(world, finished, command):
    d = copy_run(finished, world, stages=1)
    (d/'journey.json').write_text((d/'journey.json').read_text()[:200])
    before = tree(world)
    r = dj(command, d, *(['--device', 'cpu'] if command == 'resume' else []))
    assert_refused(r, 'journey.json', who='dreamjourney' if command == 'resume' else 'dreamjourney evaluate')
    assert changes(before, tree(world)) == []

def test_tampered_a_committed_frame_is_missing(world, finished):
    d = copy_run(finished, world, stages=1); (d/'frames'/'000001.png').unlink()
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), '000001.png')
    assert changes(before, tree(world)) == []

def test_tampered_a_mis_sized_frame_in_the_middle(world, finished):
    "Was: Stage II ran, then torch.stack failed in write_video (a traceback). Now: RunFolder.check_files checks every committed frame's size (its PNG header) against settings.size before any stage."
    d = copy_run(finished, world, stages=1)
    write_image(d/'frames'/'000001.png', size=16)
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), '000001.png', '32')
    assert changes(before, tree(world)) == []

def test_tampered_lowered_cloud_points(world, finished):
    "Before issue 21: _discard_uncommitted truncated cloud.ply to the recorded count (committed points deleted). Now each Stage I has its cloud file, and RunFolder.check_files refuses a record whose cloud_points contradict its file's vertex count, naming both."
    d = copy_run(finished, world, stages=1)
    line = (d/'stages.jsonl').read_bytes(); r = json.loads(line); have = r['cloud_points']
    lowered = (json.dumps(r | dict(cloud_points=have - 100)) + '\n').encode()   # the record as the journey writes it, one number lowered
    (d/'stages.jsonl').write_bytes(lowered)
    edit_state(d, lambda st: st.update(stages_bytes=len(lowered)))               # ... and committed as it is now
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), 'cloud_points', str(have), str(have - 100))
    assert changes(before, tree(world)) == []

def test_tampered_settings_size_edited(world, finished):
    "Was: resume wrote a cameras.json for 48×48 frames beside 32×32 ones. Now: RunFolder.check_files refuses frames that disagree with settings.size, naming both, before any stage."
    d = copy_run(finished, world, stages=1)
    edit_state(d, lambda st: st['settings'].update(size=48))
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), 'size', '48', '32')
    assert changes(before, tree(world)) == []

def test_tampered_zero_K(world, finished):
    "Was: Stage I failed on the singular K without naming journey.json. Now: check_journey_state checks K with camera.check_intrinsics and names journey.json and the field."
    d = copy_run(finished, world, stages=0)
    edit_state(d, lambda st: st.update(K=[[0., 0, 0], [0, 0, 0], [0, 0, 0]]))
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), 'journey.json', 'K')
    assert changes(before, tree(world)) == []

def test_tampered_evaluate_a_corrupt_frame(world, finished):
    "Today: PIL.UnidentifiedImageError (a traceback). Fix: evaluate.read_run reads frames through core.load_image, or catches the error naming the frame."
    d = copy_run(finished, world)
    (d/'frames'/'000002.png').write_bytes(b'not a png any more')
    before = tree(world)
    assert_refused(dj('evaluate', d), '000002.png', who='dreamjourney evaluate')
    assert changes(before, tree(world)) == []

def test_tampered_scores_json_is_not_stale_after_a_resume(world, finished):
    "Was: scores.json kept complete: false after the resume finished the journey. Now: a resume that will run stages marks scores.json stale first (RunFolder.mark_scores_stale); the notebook display refuses a stale one."
    d = copy_run(finished, world, stages=1)
    assert dj('evaluate', d).rc == 0
    assert json.loads((d/'scores.json').read_text())['complete'] is False
    assert dj('resume', d, '--device', 'cpu').rc == 0
    if (d/'scores.json').exists():
        s = json.loads((d/'scores.json').read_text())
        assert s.get('stale') is True or (s['complete'] is True and s['frames'] == len(frames(finished))), s

# --- links -------------------------------------------------------------------------------------------------------------------

def test_links_frames_is_a_link_out_of_the_run_folder(world, finished):
    "Was: the resume wrote its frames through the link and deleted a user's numbered picture there. Now: RunFolder.open (check_inside) refuses links that leave the run folder, by name, before anything is written."
    d = copy_run(finished, world, stages=1)
    elsewhere = world/'mine'/'pictures'
    shutil.move(d/'frames', elsewhere); (d/'frames').symlink_to(elsewhere, target_is_directory=True)
    write_image(elsewhere/'000099.png', seed=9)   # the user's own numbered picture
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), 'frames')
    assert changes(before, tree(world)) == []

def test_links_cloud_ply_is_a_link_out_of_the_run_folder(world, finished):
    "Before issue 21: the resume replaced the link with its own cloud.ply. Now a stage's cloud file (cloud/000000.ply) linked out of the run folder is refused by name (RunFolder.open: check_inside)."
    d = copy_run(finished, world, stages=1)
    shutil.move(d/'cloud'/'000000.ply', world/'mine'/'scan.ply'); (d/'cloud'/'000000.ply').symlink_to(world/'mine'/'scan.ply')
    before = tree(world)
    assert_refused(dj('resume', d, '--device', 'cpu'), '000000.ply')
    assert changes(before, tree(world)) == []

# --- interruptions ---------------------------------------------------------------------------------------------------------

def test_interruptions_killed_then_resumed(world, finished):
    "SIGKILL while Stage I writes its second frame; `dreamjourney resume` finishes the journey, equal to the uninterrupted one."
    img = write_image(world/'photo.png')
    assert dj('run', img, '--out', world/'run', *RUN, on_replace=at('000002.png')).rc == -signal.SIGKILL
    assert dj('resume', world/'run', '--device', 'cpu').rc == 0
    assert frames(world/'run') == frames(finished)
    assert (world/'mine'/'thesis.tex').read_text() == 'years of work'

def test_interruptions_ctrl_c_says_how_to_resume(world, finished):
    img = write_image(world/'photo.png')
    r = dj('run', img, '--out', world/'run', *RUN, on_replace=at('000002.png', 'interrupt'))
    assert r.rc == 130 and 'Traceback' not in r.err and len(r.said) == 1 and f"dreamjourney resume {world/'run'}" in r.said[0], r.err[-3000:]
    assert json.loads((world/'run'/'journey.json').read_text())['status'] == 'interrupted'
    assert dj('resume', world/'run', '--device', 'cpu').rc == 0
    assert frames(world/'run') == frames(finished)

def test_interruptions_a_full_disk_names_the_path_and_the_resume(world, finished):
    "No file may grow past 8 kB: Stage I's cloud file (21 kB) fails. Was: '[Errno 27] File too large', no path, no hint. Now: every run-folder write names the path and says `dreamjourney resume` continues (RunFolderWriteError)."
    img = write_image(world/'photo.png')
    r = dj('run', img, '--out', world/'run', *RUN, fsize=8000)
    assert_refused(r, str(world/'run'), f"dreamjourney resume {world/'run'}")
    assert (world/'mine'/'thesis.tex').read_text() == 'years of work'
    assert dj('resume', world/'run', '--device', 'cpu').rc == 0
    assert frames(world/'run') == frames(finished)

# --- batch reruns ----------------------------------------------------------------------------------------------------------
# `dreamjourney batch` in its two forms: the plain one (a folder of images, settings on the command line, nothing resolved)
# and the grid one (a manifest whose columns are settings). A finished batch is made once per form; tests copy it, or start
# afresh and kill the batch (SIGKILL) at a chosen moment, then run the same command again. results.csv is compared cell by
# cell, as text: a row done before keeps every cell (`action` aside), and every row ends equal to the uninterrupted batch's
# (its timings, worker and folder path aside).

UNTIMED = ('action', 'seconds', 'seconds.stage1', 'seconds.stage2', 'batch_seconds', 'worker')

def cells(out)->list:
    "results.csv as text, one dict per row ([] when there is none)."
    f = Path(out)/'results.csv'
    if not f.exists(): return []
    with open(f, newline='', encoding='utf-8') as h: return list(csv.DictReader(h))

def but(rows:list, *cols:str)->list: return [{k: v for k, v in r.items() if k not in cols} for r in rows]

def untimed(rows:list, *outs)->list:
    "Rows without what differs between two equal batches: timings and the ledger's measures, the worker, the batch folders' paths."
    def plain(v):
        for o in outs: v = v.replace(str(o), 'OUT')
        return v
    measured = lambda k: k in UNTIMED or k.endswith(('seconds_per_frame', 'peak_memory_gib', 'peak_memory_measure'))   # the ledger's measures (09c_stages) vary too
    return [{k: plain(v) for k, v in r.items() if not measured(k)} for r in rows]

def run_folders(out)->dict:
    "`tree` of the batch folder without the batch's own bookkeeping (results.csv, .batch/)."
    return {k: v for k, v in tree(out).items() if not k.startswith('.batch') and not k.startswith('results.')}

@dataclass
class Batch:
    form: str
    args: list   # what follows `dreamjourney batch`, --out excepted
    out: Path    # the finished batch
    table: list  # its results.csv as text
    def again(self, out, **kw)->Ran: return dj('batch', *self.args, '--out', out, **kw)

@pytest.fixture(scope='module', params=['plain', 'grid'])
def finished_batch(request, tmp_path_factory):
    "A batch of two journeys run to the end: `dreamjourney batch inputs --out out --size 32 …` (plain) or `batch grid.csv …` (grid)."
    d = tmp_path_factory.mktemp(f'batch-{request.param}')
    write_image(d/'inputs'/'a.png', seed=1); write_image(d/'inputs'/'b.png', seed=2)
    (d/'grid.csv').write_text('image,seed,guidance.steps\ninputs/a.png,1,4\ninputs/b.png,2,6\n')
    b = Batch(request.param, [d/'inputs' if request.param == 'plain' else d/'grid.csv', *TINY], d/'out', [])
    r = b.again(b.out)
    assert r.rc == 0, r.err[-3000:]
    b.table = cells(b.out)
    assert [(x['status'], x['action'], x['error']) for x in b.table] == [('done', 'ran', '')]*2, b.table
    assert all(any(k.startswith('score.') and v for k, v in x.items()) for x in b.table), 'the rows should carry scores'
    return b

def test_batch_rerun_after_completion_keeps_every_row(finished_batch, tmp_path):
    "Issue 19's worst case: today every row turns failed ('holds a journey with other settings') and loses its scores."
    b = finished_batch; out = shutil.copytree(b.out, tmp_path/'out', symlinks=True)
    folders = run_folders(out)
    r = b.again(out)
    assert r.rc == 0 and r.said == [], r.err[-3000:]
    after = cells(out)
    assert [x['action'] for x in after] == ['kept']*2
    assert but(after, 'action') == but(b.table, 'action')
    assert changes(folders, run_folders(out)) == []

def _second(b:Batch)->str: return b.table[1]['name']   # the run folder of the second row

KILLS = {   # moment → (start from the finished batch?, hook)
    'first-stage': (False, lambda b: at('000001.png', 'before', nth=1)),                    # the second journey writes Stage I's first frame
    'between-stages': (False, lambda b: lambda src, dst: 'after' if (dst.name == 'journey.json' and dst.parent.name == _second(b)
                                                                      and json.loads(src.read_text())['stages_written'] == 1) else None),
    'results-renaming': (False, lambda b: at('results.csv', 'before')),                      # the first table written, not yet in place
    'rerun-results-written': (True, lambda b: at('results.csv', 'after')),                   # a rerun's first table in place
}

@pytest.mark.parametrize('moment', list(KILLS))
def test_batch_rerun_after_a_kill(finished_batch, tmp_path, moment):
    "Killed at `moment`, the same command again: rows done before keep every cell, and the table ends as the uninterrupted batch's."
    b = finished_batch; fresh, hook = KILLS[moment]
    out = shutil.copytree(b.out, tmp_path/'out', symlinks=True) if fresh else tmp_path/'out'
    r = b.again(out, on_replace=hook(b))
    assert r.rc == -signal.SIGKILL, f'the batch was not killed at {moment} (rc {r.rc}):\n{r.err[-3000:]}'
    before = cells(out)
    if moment in ('first-stage', 'between-stages'):   # the kill came where it was meant to: in the second journey, before / after its Stage I
        assert json.loads((out/_second(b)/'journey.json').read_text())['stages_written'] == (moment == 'between-stages')
    if moment == 'rerun-results-written': assert but(before, 'action') == but(b.table, 'action'), 'a rerun lost done rows from results.csv'
    r = b.again(out)
    assert r.rc == 0, r.err[-3000:]
    after = {x['name']: x for x in cells(out)}
    for x in before:
        if x['status'] == 'done': assert but([after[x['name']]], 'action') == but([x], 'action'), f"row {x['name']} changed"
    assert untimed(list(after.values()), out, b.out) == untimed(b.table, b.out)   # a copied batch's kept rows name the original folder
    for name in after: assert frames(out/name) == frames(b.out/name), f'{name}: frames differ from the uninterrupted batch'

def test_batch_a_real_difference_is_refused_and_keeps_the_results(finished_batch, tmp_path):
    "The same batch with --frames 4: every row refused, naming frames, exit status 1; the folders and the rows' results as they were."
    b = finished_batch; out = shutil.copytree(b.out, tmp_path/'out', symlinks=True)
    folders = run_folders(out)
    r = dj('batch', *b.args, '--frames', '4', '--out', out)
    assert r.rc == 1 and 'Traceback' not in r.err, r.err[-3000:]
    refusals = [l for l in r.said if l.startswith('refused')]
    assert len(refusals) == 2 and all('frames: 3 in the folder, 4 in the batch' in l for l in refusals), r.said
    after = cells(out)
    assert [(x['status'], x['action']) for x in after] == [('done', 'refused')]*2
    assert but(after, 'action', 'error') == but(b.table, 'action', 'error')
    assert changes(folders, run_folders(out)) == []
