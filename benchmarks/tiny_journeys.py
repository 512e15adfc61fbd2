#!/usr/bin/env python
"""Wall time of the README's GPU command on the CPU, through tiny random-weight checkpoints of the real architectures
(`dreamjourney tiny`): one journey step (Stage I + Stage II) per video backend at the backend's default frame counts, CFG and
Stage II steps, tiny DPT depth and tiny SD inpainting. `--schedule authors` keeps the authors' guidance schedule (25 steps,
15 renoising rounds in the first 20, jacobian-free with re-evaluation: ≈ 645 network calls per Stage I); `--schedule fast` is the
test suite's (3 steps, no renoising). The tiny networks are small, so the time is the plumbing's: VAEs on 49–57 frames, the
schedule's network calls, rendering, depth and inpainting.

    python benchmarks/tiny_journeys.py [--schedule authors|fast] [--kinds easyanimate,cogvideox-i2v] [--size 64]
"""
import argparse, json, os, tempfile, time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument('--schedule', choices=['authors', 'fast'], default='authors')
p.add_argument('--kinds', default='easyanimate,cogvideox-i2v,svd,wan-flf2v')
p.add_argument('--size', default='64', help='frame size (CogVideoX runs at its native size, 64×96 for the tiny checkpoint, 2:3 as the real 480×720)')
a = p.parse_args()
os.environ.setdefault('OMP_NUM_THREADS', '2')
import torch
from PIL import Image
from dreamjourney.cli import main
from dreamjourney.testing import write_tiny_checkpoints
from dreamjourney.gaussian_prior import landscape_image
from dreamjourney.run_folder import RunFolder

d = Path(tempfile.mkdtemp(prefix='dj_tiny_bench_'))
tiny = write_tiny_checkpoints(d/'tiny')
Image.fromarray(landscape_image(96, 128, seed=1)).save(d/'photo.png')
fast = ['--guidance-steps', '3', '--guidance-renoise-rounds', '0', '--stage2-steps', '3'] if a.schedule == 'fast' else []
print(f"# tiny journeys, {a.schedule} schedule, 1 journey step; {os.cpu_count()} cores, torch {torch.__version__} "
      f"({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.1f}")
for kind in a.kinds.split(','):
    size = [] if kind == 'cogvideox-i2v' else ['--size', a.size]
    t0 = time.perf_counter()
    rc = main(['run', str(d/'photo.png'), '--out', str(d/kind), '--backend', str(tiny[kind]), '--depth-model', str(tiny['dpt']),
               '--inpainter', str(tiny['sd-inpainting']), '--segments', '1', '--device', 'cpu', *size, *fast])
    wall = time.perf_counter() - t0
    st = json.loads((d/kind/'journey.json').read_text())
    s = st['settings']
    parts = {}
    records = list(RunFolder.open(d/kind).records())
    for r in records:
        for k, v in r['seconds'].items(): parts[f"{r['kind']}.{k}"] = parts.get(f"{r['kind']}.{k}", 0) + v
    nfe = sum(r.get('nfe', 0) for r in records)
    print(f"{kind:14s} rc {rc}  {wall:6.1f} s  {st['frames_written']} frames of {s['size']}  Stage I {s['frames']} + 2·{s['guidance']['pad']}, "
          f"Stage II {s['motion_frames']}  NFE {nfe}  " + ', '.join(f"{k} {v:.1f}" for k, v in sorted(parts.items()) if v >= 0.5), flush=True)
