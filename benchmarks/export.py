#!/usr/bin/env python
"""Export time, size and peak memory per format (`dreamjourney export`, 12a_export). Each export runs in a process of its own,
which reports its wall time, the bytes written and its peak RSS (and the RSS after importing dreamjourney, for comparison);
the COLMAP model is then read back with pycolmap. The world is read one stage at a time, so the peak RSS should not grow with
the journey's length, while time and size grow linearly.

Make the journeys first (issue 24's two), then measure:

    dreamjourney demo --out /tmp/x
    dreamjourney run coffee.png --out /tmp/long100 --segments 100 --size 128 --guidance-steps 2 --guidance-renoise-rounds 0 --motion-frames 0
    python benchmarks/export.py /tmp/x /tmp/long100 [--formats colmap,nerfstudio,splat,ply] [--work DIR] [--frames copy]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('runs', nargs='+', help='journey run folders')
p.add_argument('--formats', default='colmap,nerfstudio,splat,ply')
p.add_argument('--work', default=None, help='where the exports go (default: a temporary folder, removed at the end)')
p.add_argument('--frames', default='copy', help='how frames are placed (copy, hardlink, symlink)')
a = p.parse_args()

# peak RSS from VmHWM: ru_maxrss would carry over the parent's peak through fork and exec
CHILD = """
import json, sys
def peak_mb(): return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024
from dreamjourney.export import export_world
imported = peak_mb()
r = export_world(sys.argv[1], sys.argv[2], sys.argv[3], frames=sys.argv[4], progress=False)
r.update(import_rss_mb=imported, peak_rss_mb=peak_mb())
print('RESULT ' + json.dumps(r))
"""
READ_BACK = """
import json, sys, time
import pycolmap
t0 = time.perf_counter(); rec = pycolmap.Reconstruction(sys.argv[1])
print('RESULT ' + json.dumps([rec.num_images(), rec.num_points3D(), rec.compute_num_observations(), time.perf_counter() - t0]))
"""

def child(code, *args):
    "Run `code` in a fresh Python process; its RESULT line, parsed."
    proc = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True)
    if proc.returncode: sys.exit(f"{' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return json.loads(next(l for l in proc.stdout.splitlines() if l.startswith('RESULT '))[7:])

def folder_bytes(d): return sum(f.stat().st_size for f in Path(d).rglob('*') if f.is_file() and not f.is_symlink())

work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix='dj_export_bench_'))
print(f"# dreamjourney export; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; frames placed by {a.frames}")
print("| journey | frames | points | cloud files | format | time (s) | written | peak RSS (MB) | RSS after import (MB) | read back |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for run in map(Path, a.runs):
    st = json.loads((run/'journey.json').read_text())
    recs = st['stages'] if st.get('version', 1) == 1 else map(json.loads, (run/'stages.jsonl').read_bytes()[:st['stages_bytes']].splitlines())
    points = sum(int(r.get('cloud_points', 0)) for r in recs)                  # either layout: the committed stage records
    clouds = sum(f.stat().st_size for f in (run/'cloud').glob('*.ply')) if (run/'cloud').is_dir() else (run/'cloud.ply').stat().st_size
    for fmt in a.formats.split(','):
        out = work/run.name/(fmt if fmt in ('colmap', 'nerfstudio') else f'{fmt}.ply')
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        r, back = child(CHILD, run, fmt, out, a.frames), ''
        if fmt == 'colmap':
            images, pts, obs, secs = child(READ_BACK, out/'sparse'/'0')
            assert (images, pts, obs) == (r['images'], r['points'], r['observations']), ((images, pts, obs), r)
            back = f"pycolmap: {images} images, {pts} points, {obs} observations in {secs:.1f} s"
        counts = ', '.join(f"{r[k]} {k}" for k in ('points', 'observations', 'unseen') if k in r)
        print(f"| {run} | {st['frames_written']} | {points} | {clouds / 1e6:.1f} MB | {fmt} | {r['seconds']:.1f} | "
              f"{r['bytes'] / 1e6:.1f} MB ({counts}) | {r['peak_rss_mb']:.0f} | {r['import_rss_mb']:.0f} | {back} |", flush=True)
if not a.work: shutil.rmtree(work)
