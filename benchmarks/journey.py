#!/usr/bin/env python
"""Time the CPU demo journey (`dreamjourney demo`): 3 steps at 256² by default, and the split of its
time by stage and part. Target (issue "The journey"): ≤ 60 s on a 2-core machine.

    python benchmarks/journey.py [--segments 3] [--size 256]
"""
import argparse, os, platform, tempfile, time
import torch
from dreamjourney.journey import demo, stage_times

p = argparse.ArgumentParser(); p.add_argument('--segments', type=int, default=3); p.add_argument('--size', type=int, default=256)
a = p.parse_args()
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    j = demo(os.path.join(d, 'demo'), segments=a.segments, size=a.size, progress=False)
    total = time.perf_counter() - t
    print(f"# dreamjourney demo, {a.segments} steps at {a.size}², {j.state['frames_written']} frames; {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.2f}")
    print(f"total wall time {total:.1f} s (target ≤ 60 s)")
    split = stage_times(j)
    for k, v in sorted(split.items(), key=lambda kv: -kv[1]): print(f"  {k:24s} {v:6.2f} s  {100*v/total:5.1f} %")
    rest = total - sum(split.values())
    print(f"  {'writing frames, ply, mp4':24s} {rest:6.2f} s  {100*rest/total:5.1f} %")
    print(f"NFE per Stage I: {[r['nfe'] for r in j.records() if r['kind'] == 'stage1']}")
