"""What a CPU journey looks like, measured: the offline journey over procedural scenes and the demo landscape,
for four Stage I guidance settings, scored by `dreamjourney.evaluate` (no network weights).

    python benchmarks/quality.py                      # 7 scenes × 4 settings, 128², 2 journey steps each
    python benchmarks/quality.py --size 256 --segments 3 --scenes 3

Settings compared (everything else is the CPU default of `JourneySettings`):
- `cpu default`: the Gaussian prior's recommended guidance (Eq. 11 through the exact denoiser, 25 steps guided to the end,
  2 renoising rounds in the first 4; what `dreamjourney demo` and `dreamjourney run` use on the CPU);
- `authors jf`: the authors' released schedule (jacobian-free step, lr 0.025, 15 rounds in steps 1–20, early stop at 80%);
- `paper dps`: the paper's reading (Eq. 11, λ = 0.5) on the authors' schedule;
- `none`: no guidance (the video model alone, first frame given).
Scenes: `pointcloud.procedural_scene(seed)` views for seeds 1…N-1 and the demo landscape (`landscape_image`).
Each journey starts from its scene's first view and uses the offline depth model (the known depth is not given to it).
The table gives, per setting, the mean of each metric over the scenes and how many scenes meet each target of issue 12.
"""
import argparse, os, tempfile, time
from pathlib import Path

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--segments', type=int, default=2)
    p.add_argument('--scenes', type=int, default=7, help='procedural scenes + the demo landscape (≥ 2)')
    p.add_argument('--out', default=None, help='keep the run folders here (default: a temporary folder)')
    a = p.parse_args()
    os.environ.setdefault('OMP_NUM_THREADS', '2')
    import numpy as np, torch
    from dreamjourney.core import tensor_to_pil
    from dreamjourney.gaussian_prior import landscape_image
    from dreamjourney.pointcloud import procedural_scene
    from dreamjourney.guidance import GuidanceSettings, GaussianPriorBackend
    from dreamjourney.journey import JourneySettings, run_journey
    from dreamjourney.evaluate import evaluate_run, check_targets, TARGETS
    out = Path(a.out or tempfile.mkdtemp(prefix='dj_quality_'))
    images = [('landscape', landscape_image(a.size, a.size, seed=0))]
    images += [(f'scene{k}', procedural_scene(k).view(None, None, a.size, a.size)[0]) for k in range(1, a.scenes)]
    settings = {'cpu default': GaussianPriorBackend.recommended_guidance(), 'authors jf': GuidanceSettings(),
                'paper dps': GuidanceSettings.paper(0.5), 'none': GuidanceSettings(mode='none')}
    print(f"# {len(images)} scenes × {len(settings)} settings, {a.size}², {a.segments} journey steps, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}; run folders in {out}")
    rows = {}
    for sname, g in settings.items():
        scores, t0, nfe = [], time.time(), 0
        for iname, img in images:
            f = out/sname.replace(' ', '_')/iname
            if not (f/'journey.json').exists():
                run_journey(np.asarray(img), f, JourneySettings(segments=a.segments, size=a.size, guidance=g), progress=False)
            s = evaluate_run(f); scores.append(s)
            import json; nfe += sum(r.get('nfe', 0) for r in json.loads((f/'journey.json').read_text())['stages'])
        checks = [check_targets(s) for s in scores]
        row = {}
        for k in TARGETS:
            vals = [c[k][0] for c in checks if c[k][0] is not None]
            row[k] = (float(np.mean(vals)) if vals else float('nan'), sum(bool(c[k][2]) for c in checks), len(vals))
        row['all targets'] = sum(all(c[k][2] for k in TARGETS) for c in checks)
        row['seconds'] = (time.time() - t0)/len(images); row['nfe'] = nfe/len(images)
        rows[sname] = row
        print(f"  {sname}: {row['seconds']:.1f} s and {row['nfe']:.0f} NFE per journey", flush=True)
    names = list(rows)
    print(f"\n| metric (target) | " + ' | '.join(names) + ' |')
    print('|---|' + '---|'*len(names))
    for k, (op, x) in TARGETS.items():
        print(f"| {k} ({op} {x:g}) | " + ' | '.join(f"{rows[n][k][0]:.3g} ({rows[n][k][1]}/{rows[n][k][2]} pass)" for n in names) + ' |')
    print(f"| scenes meeting every target | " + ' | '.join(f"{rows[n]['all targets']}/{len(images)}" for n in names) + ' |')
    print(f"| NFE per journey | " + ' | '.join(f"{rows[n]['nfe']:.0f}" for n in names) + ' |')
    print(f"| seconds per journey (incl. scoring) | " + ' | '.join(f"{rows[n]['seconds']:.1f}" for n in names) + ' |')

if __name__ == '__main__': main()
