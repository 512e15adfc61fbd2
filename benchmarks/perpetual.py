"""Perpetual journeys (issue 21): does a step cost the same at step 500 as at step 1?

    python benchmarks/perpetual.py --steps 50 --size 128
    python benchmarks/perpetual.py --steps 500 --size 128 --kill-at 400     # also: killed at step 400, resumed, compared
    python benchmarks/perpetual.py --steps 200 --size 256
    python benchmarks/perpetual.py --evaluate 1000 10000                      # evaluate's peak RSS against journey length
    python benchmarks/perpetual.py --replot AFTER.json BEFORE.json --plot-to nbs/images/perpetual_time_per_step.png

Each journey runs `dreamjourney run` (the Gaussian prior, `--guidance-steps 2`, scikit-image's `coffee` photo) in a
child process that reports, when it ends, its peak RSS and its I/O counters from /proc/self/io (which include the
ffmpeg children it reaped). The time of a step is read from the folder, whatever its layout: the modification time
of the step's last frame minus that of the step before (so it includes the commit of the step before). Reported:
wall time per step over the first and the last 10% of steps and their ratio; peak RSS; bytes written against the
folder's final size. Results go to benchmarks/results/perpetual-<steps>-<size>.json, with a plot of time per step.

`--evaluate N …` measures the readers instead: for each N, a synthetic N-frame journey at 64² (a camera sliding over
the coffee photo; Stage I of 4 new frames and Stage II of 2, alternating) is written one frame at a time by
`make_run_folder` in one child process, then scored by `dreamjourney evaluate` in another, whose peak RSS and wall
time are reported (benchmarks/results/perpetual-evaluate.json). Memory that does not grow with N is the target.
"""
import argparse, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT/'benchmarks'/'results'

CHILD = r"""
import json, os, resource, signal, sys
kill_frame = int(os.environ.get('PERPETUAL_KILL_FRAME', '-1'))
if kill_frame >= 0:                       # SIGKILL ourselves as frame `kill_frame` is about to be written (mid-stage)
    import dreamjourney.core as core
    real = core.atomic_write
    def write(path, data):
        if os.path.basename(str(path)) == f'{kill_frame:06d}.png': os.kill(os.getpid(), signal.SIGKILL)
        return real(path, data)
    core.atomic_write = write
    for m in list(sys.modules):
        if m.startswith('dreamjourney.') and getattr(sys.modules[m], 'atomic_write', None) is real: sys.modules[m].atomic_write = write
    import dreamjourney.cli
    for m in list(sys.modules):
        if m.startswith('dreamjourney.') and getattr(sys.modules[m], 'atomic_write', None) is real: sys.modules[m].atomic_write = write
from dreamjourney.cli import main
rc = main(sys.argv[1:])
io = dict(l.split(': ') for l in open('/proc/self/io').read().split('\n') if l)
print('PERPETUAL ' + json.dumps(dict(rc=rc, maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      children_maxrss_kb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, io={k: int(v) for k, v in io.items()})))
sys.exit(rc)
"""

MAKE = r"""
import sys, numpy as np, torch
from skimage import data
from PIL import Image
from dreamjourney.run_format import make_run_folder
out, n, size = sys.argv[1], int(sys.argv[2]), 64
big = np.asarray(Image.fromarray(data.coffee()).resize((384, 256), Image.LANCZOS))   # 256 rows, 384 columns
pattern = [('stage1', 4), ('stage2', 2)]
stages, left = [], n - 1
while left > 0:
    kind, m = pattern[len(stages) % 2]; stages.append((kind, min(m, left))); left -= min(m, left)
xs, x = [0], 0                                  # a camera sliding right, then back: one column a Stage I frame
for kind, m in stages:
    for _ in range(m):
        if kind == 'stage1': x = (x + 1) % (2*(384 - size))
        xs.append(x)
col = lambda x: x if x < 384 - size else 2*(384 - size) - x
K = [[size*1.2, 0, size/2], [0, size*1.2, size/2], [0, 0, 1]]
poses = np.tile(np.eye(4), (n, 1, 1)); poses[:, 0, 3] = [col(x)/size for x in xs]
frames = (big[96:96 + size, col(x):col(x) + size] for x in xs)   # made as they are written: never all at once
make_run_folder(out, frames, K, poses, stages=stages)
"""

def evaluate_memory(ns:list, work:Path, env:dict)->dict:
    "Peak RSS and wall time of `dreamjourney evaluate` on synthetic journeys of each length in `ns` (64², made by `make_run_folder`)."
    out = {}
    for n in ns:
        d = work/f'evaluate-{n}'; shutil.rmtree(d, ignore_errors=True)
        p = subprocess.run([sys.executable, '-c', MAKE, str(d), str(n)], env=env, capture_output=True, text=True)
        if p.returncode != 0: sys.exit(f'making the {n}-frame folder failed: {p.stderr[-2000:]}')
        t0 = time.time(); r = child(['evaluate', str(d)], env); wall = time.time() - t0
        if r.get('rc') != 0: sys.exit(f'evaluate failed on {n} frames: {r}')
        scores = json.loads((d/'scores.json').read_text())
        out[n] = dict(frames=scores['frames'], stages=len(scores['stages']), peak_rss_mb=r['maxrss_kb']/1024, wall_s=wall,
                      folder_bytes=folder_bytes(d))
        print(n, json.dumps(out[n]), flush=True)
        shutil.rmtree(d, ignore_errors=True)
    return out

def photo(path:Path)->Path:
    "scikit-image's coffee photo as a PNG."
    from skimage import data
    from PIL import Image
    Image.fromarray(data.coffee()).save(path); return path

def child(args:list, env:dict)->dict:
    "Run the CLI in a child process; its report (rc, peak RSS, /proc/self/io), or the signal that ended it."
    p = subprocess.run([sys.executable, '-c', CHILD, *args], env=env, capture_output=True, text=True)
    line = next((l for l in p.stdout.splitlines() if l.startswith('PERPETUAL ')), None)
    if line is None: return dict(rc=p.returncode, stderr=p.stderr[-2000:])
    return json.loads(line[len('PERPETUAL '):])

def folder_bytes(d:Path)->int:
    return sum(p.stat().st_size for p in d.rglob('*') if p.is_file())

def step_times(d:Path, steps:int)->np.ndarray:
    "Seconds per step from the frames' modification times (the last frame of each step)."
    frames = sorted((d/'frames').glob('*.png'))
    per = (len(frames) - 1)//steps
    ends = [frames[0]] + [frames[per*(s + 1)] for s in range(steps)]
    t = np.array([p.stat().st_mtime_ns for p in ends], dtype=np.float64)/1e9
    return np.diff(t)

def summary(times:np.ndarray)->dict:
    k = max(1, len(times)//10)
    first, last = float(np.mean(times[:k])), float(np.mean(times[-k:]))
    return dict(first10_s=first, last10_s=last, ratio=last/first, median_s=float(np.median(times)), total_s=float(times.sum()))

def same_journey(a:Path, b:Path)->list:
    "What differs between two run folders: any file (bytes), cameras.json, stages.jsonl (timings and the ledger's measures ignored), the video, the world exported as one ply."
    diff = []
    fa = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob('*') if p.is_file())
    if fa != fb: diff.append(f'file lists differ: {sorted(set(map(str, fa)) ^ set(map(str, fb)))[:10]}')
    for r in fa:
        if r.suffix in ('.json', '.jsonl', '.mp4') or r.name.startswith('.') or not (b/r).exists(): continue
        if (a/r).read_bytes() != (b/r).read_bytes(): diff.append(str(r))
    untimed = lambda x: ({k: untimed(v) for k, v in x.items() if k not in ('seconds', 'wall_seconds', 'seconds_per_frame', 'peak_memory_gib', 'peak_memory_measure')} if isinstance(x, dict)
                         else [untimed(v) for v in x] if isinstance(x, list) else x)
    for name in ('cameras.json', 'stages.jsonl'):                   # the cameras, and the records without their timings
        if not ((a/name).exists() and (b/name).exists()): continue
        read = lambda f: [untimed(json.loads(l)) for l in f.read_text().splitlines()]
        if read(a/name) != read(b/name): diff.append(name)
    if (a/'journey.mp4').exists() and (a/'journey.mp4').read_bytes() != (b/'journey.mp4').read_bytes(): diff.append('journey.mp4')
    worlds = []                                                      # the world exported as one ply (12a), by a child process
    for d in (a, b):
        out = d.parent/f'{d.name}-world.ply'
        code = 'import sys; from dreamjourney.export import export_world; export_world(sys.argv[1], "ply", sys.argv[2], force=True, progress=False)'
        subprocess.run([sys.executable, '-c', code, str(d), str(out)], check=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
        worlds.append(out.read_bytes()); out.unlink()
    if worlds[0] != worlds[1]: diff.append('the exported world (ply)')
    return diff

def plot(times:np.ndarray, label:str, out:Path, extra:dict|None=None):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
    ax.plot(np.arange(1, len(times) + 1), times, lw=0.8, label=label)
    for k, v in (extra or {}).items(): ax.plot(np.arange(1, len(v) + 1), v, lw=0.8, label=k)
    ax.set_xlabel('journey step'); ax.set_ylabel('seconds per step'); ax.set_ylim(bottom=0); ax.legend(); fig.tight_layout()
    fig.savefig(out); plt.close(fig)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--steps', type=int, default=50)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--work', default='/tmp/perpetual', help='where the journeys are made')
    p.add_argument('--kill-at', type=int, default=None, help='also run the journey killed at this step, resumed, and compare')
    p.add_argument('--label', default='this version')
    p.add_argument('--keep', action='store_true', help='keep the run folders')
    p.add_argument('--evaluate', type=int, nargs='+', default=None, help="instead: evaluate's peak RSS on synthetic journeys of these frame counts")
    p.add_argument('--replot', nargs='+', default=None, metavar='JSON', help='instead: plot the time per step of these results (their labels) into --plot-to')
    p.add_argument('--plot-to', default=None, metavar='PNG', help='with --replot: the picture to write')
    a = p.parse_args()
    if a.replot:
        rs = [json.loads(Path(f).read_text()) for f in a.replot]
        label = lambda r: f"{r['label']}: {r['steps']} steps at {r['size']}²"
        plot(np.asarray(rs[0]['step_seconds']), label(rs[0]), Path(a.plot_to), {label(r): r['step_seconds'] for r in rs[1:]}); return
    work = Path(a.work); work.mkdir(parents=True, exist_ok=True); RESULTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT)] + [x for x in os.environ.get('PYTHONPATH', '').split(os.pathsep) if x])}
    if a.evaluate:
        res = evaluate_memory(a.evaluate, work, env)
        (RESULTS/'perpetual-evaluate.json').write_text(json.dumps(res, indent=1)); print(json.dumps(res, indent=1)); return
    img = photo(work/'coffee.png')
    opts = ['--segments', str(a.steps), '--size', str(a.size), '--guidance-steps', '2', '--device', 'cpu']
    out = work/f'run-{a.steps}-{a.size}'; shutil.rmtree(out, ignore_errors=True)
    t0 = time.time(); r = child(['run', str(img), '--out', str(out), *opts], env); wall = time.time() - t0
    if r.get('rc') != 0: sys.exit(f'the journey failed: {r}')
    times = step_times(out, a.steps)
    size = folder_bytes(out)
    res = dict(steps=a.steps, size=a.size, label=a.label, wall_s=wall, **summary(times), peak_rss_mb=r['maxrss_kb']/1024,
               children_peak_rss_mb=r['children_maxrss_kb']/1024, write_bytes=r['io']['write_bytes'] - r['io']['cancelled_write_bytes'],
               wchar=r['io']['wchar'], folder_bytes=size, step_seconds=times.tolist())
    res['written_over_size'] = res['write_bytes']/size
    if a.kill_at is not None:
        killed = work/f'killed-{a.steps}-{a.size}'; shutil.rmtree(killed, ignore_errors=True)
        per = (len(list((out/'frames').glob('*.png'))) - 1)//a.steps
        k = child(['run', str(img), '--out', str(killed), *opts], {**env, 'PERPETUAL_KILL_FRAME': str(per*a.kill_at + per//2)})
        res['killed_rc'] = k.get('rc')
        rr = child(['resume', str(killed), '--device', 'cpu'], env)
        res['resumed_rc'] = rr.get('rc')
        res['resumed_differs'] = same_journey(out, killed)
        if not a.keep: shutil.rmtree(killed, ignore_errors=True)
    name = f'perpetual-{a.steps}-{a.size}'
    (RESULTS/f'{name}.json').write_text(json.dumps(res, indent=1))
    plot(times, a.label, RESULTS/f'{name}.png')
    if not a.keep: shutil.rmtree(out, ignore_errors=True)
    show = {k: v for k, v in res.items() if k != 'step_seconds'}
    print(json.dumps(show, indent=1))

if __name__ == '__main__': main()
