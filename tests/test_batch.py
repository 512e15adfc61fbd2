"""The `ray` engine of `dreamjourney batch` (nbs/13_batch.ipynb teaches and tests the `local` one). One local Ray
cluster with two CPUs serves every test: tiny CPU journeys run as Ray tasks, a second invocation redoes nothing, a
worker killed in the middle of a journey is retried and the journey resumes from its last committed stage, bad rows
fail alone, and both engines write the same frames. The scenarios run in one test, one after another, so that
`pytest -n 2` starts one cluster and not one per xdist worker. Skipped when Ray is not installed."""
import json, os
from dataclasses import replace
from pathlib import Path
import pytest
ray = pytest.importorskip('ray', reason='Ray is not installed (pip install "dreamjourney[ray]"): the ray engine is not tested')
from PIL import Image
from dreamjourney.batch import run_batch, read_results
from dreamjourney.journey import JourneySettings, Journey, run_journey
from dreamjourney.gaussian_prior import landscape_image

SETTINGS = JourneySettings.demo(size=48, segments=1, frames=6, motion_frames=2)
CRASH_SEED = 424242   # a journey with this seed kills its worker once, in Stage II (after Stage I is committed)

def _frames(folder): return {p.name: p.read_bytes() for p in sorted((Path(folder)/'frames').glob('*.png'))}

def _scenes(d, n):
    d.mkdir(parents=True, exist_ok=True)
    for k in range(n): Image.fromarray(landscape_image(48, 48, seed=k)).save(d/f'scene{k}.png')
    return d

@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    "A local Ray cluster (2 CPUs) whose workers crash once in a journey with CRASH_SEED."
    d = tmp_path_factory.mktemp('ray')
    crashed, kill_out = d/'crashed.json', d/'kill'
    def crash_once_in_stage_two():   # runs in every worker as it starts (a local function: Ray ships it by value)
        import os
        import dreamjourney.journey as jm
        real = jm.stage_two
        def stage_two(s, *a, **kw):
            if s.seed == CRASH_SEED and not crashed.exists():
                st = json.loads((kill_out/'victim'/'journey.json').read_text())   # the commit point, and the stage lines it commits
                lines = (kill_out/'victim'/'stages.jsonl').read_bytes()[:st['stages_bytes']].decode().splitlines()
                crashed.write_text(json.dumps(dict(pid=os.getpid(), journey=st, stages=[json.loads(l) for l in lines])))
                os._exit(1)   # no cleanup, no exception: the worker process is gone
            return real(s, *a, **kw)
        jm.stage_two = stage_two
    # Ray's raylet gives its helper processes 15 s to start. In an environment with Jupyter, jsonschema imports
    # rfc3987_syntax, which builds a grammar for ~4 s of CPU in every Ray process; on a busy 2-core machine the
    # cluster then fails to start. jsonschema treats that module as optional: hide it from the Ray processes.
    shim = d/'shim'/'rfc3987_syntax'; shim.mkdir(parents=True)
    (shim/'__init__.py').write_text('raise ImportError("hidden from Ray processes: slow to import")\n')
    old = os.environ.get('PYTHONPATH')
    os.environ['PYTHONPATH'] = os.pathsep.join([str(d/'shim')] + ([old] if old else []))
    try: ray.init(num_cpus=2, include_dashboard=False, runtime_env={'worker_process_setup_hook': crash_once_in_stage_two})
    finally:
        if old is None: del os.environ['PYTHONPATH']
        else: os.environ['PYTHONPATH'] = old
    yield dict(crashed=crashed, kill_out=kill_out)
    ray.shutdown()

def check_four_then_nothing(d):
    "Four tiny journeys on the cluster: four done rows; a second invocation redoes nothing."
    scenes = _scenes(d/'scenes', 4); out = d/'out'
    s = run_batch(scenes, out, settings=SETTINGS, engine='ray', score=None, progress=False)
    got = [(r["name"], r["status"], r["action"], r["error"]) for r in s.rows]
    assert got == [(f"scene{k}", "done", "ran", None) for k in range(4)], got
    table = read_results(out)
    assert [(r['name'], r['status'], r['frames']) for r in table] == [(f'scene{k}', 'done', 7) for k in range(4)]
    assert all(r['worker'].split(':')[1] != str(os.getpid()) for r in table)   # they ran in Ray workers
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob('*') if p.is_file() and '.batch' not in p.parts and p.suffix != '.csv'}
    again = run_batch(scenes, out, settings=SETTINGS, engine='ray', score=None, progress=False)
    assert [(r['status'], r['action']) for r in again.rows] == [('done', 'kept')]*4
    assert again.worked == 0
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    return scenes, out

def check_local_engine_writes_the_same_frames(scenes, out, tmp_path):
    "The local engine writes the same run folders as the ray engine, frames byte for byte."
    s = run_batch(scenes, tmp_path/'local', settings=SETTINGS, engine='local', score=None, progress=False)
    assert s.count('done') == 4
    for k in range(4):
        a, b = _frames(out/f'scene{k}'), _frames(tmp_path/'local'/f'scene{k}')
        assert len(a) == 7 and a == b, f'scene{k}: frames differ between engines'
        assert Journey.open(out/f'scene{k}').state['settings'] == Journey.open(tmp_path/'local'/f'scene{k}').state['settings']

def check_killed_worker_is_retried_and_resumes(cluster, tmp_path):
    "A worker killed after Stage I's commit: Ray retries the task and the journey resumes, equal to an uninterrupted run."
    scenes = _scenes(tmp_path/'scenes', 2)
    (tmp_path/'m.jsonl').write_text('\n'.join(json.dumps(r) for r in [
        dict(image=str(scenes/'scene0.png'), name='victim', seed=CRASH_SEED), dict(image=str(scenes/'scene1.png'), name='bystander')]))
    out = cluster['kill_out']
    s = run_batch(tmp_path/'m.jsonl', out, settings=SETTINGS, engine='ray', score=None, progress=False, max_retries=2)
    assert cluster['crashed'].exists(), 'the victim journey should have killed its worker once'
    crash = json.loads(cluster['crashed'].read_text())
    victim, bystander = s.rows
    assert (victim['status'], victim['action'], victim['error']) == ('done', 'resumed', None), victim
    assert victim['worker'].split(':')[1] != str(crash['pid'])                   # a new worker finished it
    assert (bystander['status'], bystander['action']) == ('done', 'ran')
    after = list(Journey.open(out/'victim').records())
    assert [r['kind'] for r in crash['stages']] == ['stage1']                    # killed after Stage I's commit
    assert after[0] == crash['stages'][0]                                         # Stage I was not run again
    ref = run_journey(scenes/'scene0.png', tmp_path/'ref', replace(SETTINGS, seed=CRASH_SEED), progress=False)
    assert _frames(out/'victim') == _frames(ref.out), 'the resumed journey should equal an uninterrupted one'

def check_bad_rows_fail_alone(tmp_path):
    "An unreadable image and a refused setting: two failed rows saying why; the others done."
    scenes = _scenes(tmp_path/'scenes', 3)
    (tmp_path/'broken.png').write_bytes(b'this is not an image')
    (tmp_path/'m.csv').write_text('image,segments\nscenes/scene0.png,\nbroken.png,\nscenes/scene1.png,0\nscenes/scene2.png,\n')
    s = run_batch(tmp_path/'m.csv', tmp_path/'out', settings=SETTINGS, engine='ray', score=None, progress=False)
    assert [r['status'] for r in s.rows] == ['done', 'failed', 'failed', 'done']
    assert 'cannot read' in s.rows[1]['error'] and 'broken.png' in s.rows[1]['error'], s.rows[1]['error']
    assert 'segments must be ≥ 1, got 0' in s.rows[2]['error'], s.rows[2]['error']
    assert [r['status'] for r in read_results(tmp_path/'out')] == ['done', 'failed', 'failed', 'done']

def test_ray_engine(cluster, tmp_path):
    for d in ('four', 'local', 'kill', 'bad'): (tmp_path/d).mkdir()
    scenes, out = check_four_then_nothing(tmp_path/'four')
    check_local_engine_writes_the_same_frames(scenes, out, tmp_path/'local')
    check_killed_worker_is_retried_and_resumes(cluster, tmp_path/'kill')
    check_bad_rows_fail_alone(tmp_path/'bad')
