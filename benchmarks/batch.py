#!/usr/bin/env python
"""Throughput of `dreamjourney batch`: N tiny CPU journeys with the local engine, then on a local Ray cluster
(2 CPUs), one journey at a time and two at a time. Prints journeys per hour, the Ray overhead per journey and the speed-up of two workers over
one. The overhead is measured within each run, so that the load of a shared machine cancels out: a run's wall time
minus the time its journeys spent inside `run_job` (each row's batch_seconds), per journey; Ray's overhead is that
of the ray engine (one journey at a time: scheduling, shipping the job, returning the row) minus that of the local
engine (planning, writing results.csv). The cluster start and the workers' first imports are one-off costs, printed apart. Targets (issue
"Many journeys on many GPUs"): overhead ≤ 5% of a demo journey's time; 2 workers ≥ 1.6× one.

    python benchmarks/batch.py [--n 6] [--size 64] [--segments 2] [--ray-address ADDR]
"""
import argparse, os, shutil, tempfile, time
from pathlib import Path
import torch
from PIL import Image
import ray
from dreamjourney.batch import run_batch
from dreamjourney.journey import JourneySettings
from dreamjourney.gaussian_prior import landscape_image

p = argparse.ArgumentParser()
p.add_argument('--n', type=int, default=6, help='journeys per run')
p.add_argument('--size', type=int, default=64); p.add_argument('--segments', type=int, default=2)
p.add_argument('--ray-address', default=None, help='join this cluster instead of starting a local one with 2 CPUs')
a = p.parse_args()
settings = JourneySettings.demo(size=a.size, segments=a.segments)
d = Path(tempfile.mkdtemp(prefix='dj_batch_bench_'))
try:
    scenes = d/'scenes'; scenes.mkdir()
    for k in range(a.n): Image.fromarray(landscape_image(a.size, a.size, seed=k)).save(scenes/f'scene{k}.png')
    run = lambda out, **kw: run_batch(scenes, d/out, settings=settings, score=None, progress=False, **kw)
    print(f"# dreamjourney batch: {a.n} journeys, demo settings at {a.size}², {a.segments} steps; {os.cpu_count()} cores, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), ray {ray.__version__}, load average {os.getloadavg()[0]:.2f}")
    def burn(_):
        t, x = time.perf_counter(), 0
        for i in range(4_000_000): x += i*i
        return time.perf_counter() - t
    import multiprocessing as mp
    t = time.perf_counter(); [burn(0) for _ in range(2)]; seq = time.perf_counter() - t
    with mp.get_context('fork').Pool(2) as pool:
        pool.map(burn, [0, 0]); t = time.perf_counter(); pool.map(burn, [0, 0]); par = time.perf_counter() - t
    print(f"control: two CPU-bound Python processes run {seq/par:.2f}× faster than one after the other on this machine now")
    local = run('local')
    per = local.seconds/a.n
    print(f"local engine          {local.seconds:6.1f} s  {local.journeys_per_hour:7.0f} journeys/hour  ({per:.2f} s per journey)")
    t = time.perf_counter()
    if a.ray_address: ray.init(address=a.ray_address)
    else: ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    start = time.perf_counter() - t
    @ray.remote(num_cpus=1)
    def warm(_):
        import dreamjourney.batch; time.sleep(1.); return os.getpid()
    t = time.perf_counter(); pids = set(ray.get([warm.remote(i) for i in range(2)])); warmup = time.perf_counter() - t
    print(f"ray cluster start     {start:6.1f} s   first import in {len(pids)} workers {warmup:.1f} s (one-off costs)")
    one = run('ray1', engine='ray', num_cpus=2)     # a journey takes both CPUs: one at a time
    two = run('ray2', engine='ray', num_cpus=1)     # two at a time
    gap = lambda s: (s.seconds - sum(r['batch_seconds'] for r in s.rows))/a.n   # wall time outside the journeys, per journey
    job = sum(r['batch_seconds'] for r in one.rows)/a.n
    over = gap(one) - gap(local)
    print(f"ray, 1 at a time      {one.seconds:6.1f} s  {one.journeys_per_hour:7.0f} journeys/hour  ({job:.2f} s per journey in the worker)")
    print(f"ray, 2 at a time      {two.seconds:6.1f} s  {two.journeys_per_hour:7.0f} journeys/hour")
    print(f"outside the journeys, per journey: local {gap(local)*1000:.0f} ms, ray {gap(one)*1000:.0f} ms")
    print(f"ray overhead per journey {over*1000:.0f} ms = {100*over/job:.1f} % of this tiny journey, "
          f"{100*over/60:.2f} % of a 60 s CPU demo journey (target ≤ 5 %)")
    print(f"(ray 1 at a time against local, wall: {1000*(one.seconds - local.seconds)/a.n:+.0f} ms per journey; load noise included)")
    print(f"2 workers / 1 worker  {one.seconds/two.seconds:.2f}× (target ≥ 1.6×); 2 workers / local {local.seconds/two.seconds:.2f}×")
    print(f"ray, 2 at a time, cluster start and imports included: {3600*a.n/(two.seconds + start + warmup):.0f} journeys/hour")
    assert all(s.count('done') == a.n for s in (local, one, two))
finally:
    if ray.is_initialized(): ray.shutdown()
    shutil.rmtree(d, ignore_errors=True)
