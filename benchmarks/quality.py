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
A procedural journey (`evaluate.procedural_journey`) starts from its scene's first view, is given the scene's exact depth
(`evaluate.TruthDepth`) and records the scene in truth.json, so its frames are also scored against the analytic render:
PSNR on the pixels hidden in each Stage I's prior and on those it showed (`hidden_psnr_db`, `truth_visible_psnr_db`).
The landscape journey uses the offline depth model and has no truth.
The table gives, per setting, the mean of each metric over the scenes and how many scenes meet each target of issue 12;
the truth rows are means over the procedural scenes (n/m: scenes with a value).
"""
import argparse, json, os, tempfile, time
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
    from dreamjourney.guidance import GuidanceSettings, GaussianPriorBackend
    from dreamjourney.journey import JourneySettings, run_journey
    from dreamjourney.evaluate import evaluate_run, check_targets, TARGETS
    from dreamjourney.truth import procedural_journey, read_truth
    from dreamjourney.run_folder import RunFolder
    out = Path(a.out or tempfile.mkdtemp(prefix='dj_quality_'))
    images = [('landscape', landscape_image(a.size, a.size, seed=0))] + [(f'scene{k}', k) for k in range(1, a.scenes)]   # a seed: procedural
    TRUTH = {'hidden_psnr_db': 'hidden PSNR vs truth (dB)', 'truth_visible_psnr_db': 'visible PSNR vs truth (dB)'}
    settings = {'cpu default': GaussianPriorBackend.recommended_guidance(), 'authors jf': GuidanceSettings(),
                'paper dps': GuidanceSettings.paper(0.5), 'none': GuidanceSettings(mode='none')}
    print(f"# {len(images)} scenes × {len(settings)} settings, {a.size}², {a.segments} journey steps, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}; run folders in {out}")
    rows = {}
    for sname, g in settings.items():
        scores, t0, nfe = [], time.time(), 0
        for iname, img in images:
            f = out/sname.replace(' ', '_')/iname
            js = JourneySettings(segments=a.segments, size=a.size, guidance=g)
            done = (f/'journey.json').exists() and json.loads((f/'journey.json').read_text()).get('status') == 'done'
            if not done or (isinstance(img, int) and read_truth(f) is None):   # reuse only finished journeys (with their truth)
                if isinstance(img, int): procedural_journey(img, f, js, overwrite=True)
                else: run_journey(np.asarray(img), f, js, overwrite=True, progress=False)
            s = evaluate_run(f); scores.append(s)
            nfe += sum(r.get('nfe', 0) for r in RunFolder.open(f).records())
        checks = [check_targets(s) for s in scores]
        row = {}
        for k in TARGETS:
            vals = [c[k][0] for c in checks if c[k][0] is not None]
            row[k] = (float(np.mean(vals)) if vals else float('nan'), sum(bool(c[k][2]) for c in checks), len(vals))
        row['all targets'] = sum(all(c[k][2] for k in TARGETS) for c in checks)
        row['all estimable'] = sum(all(c[k][2] for k in TARGETS if c[k][0] is not None) for c in checks)   # 'not estimable' left out
        for k in TRUTH:
            vals = [s['metrics'][k]['value'] for s in scores if s['metrics'][k]['value'] is not None]
            row[k] = (float(np.mean(vals)) if vals else float('nan'), len(vals), sum(s['metrics'][k]['status'] != 'needs truth' for s in scores))
        sh = [s['metrics']['hidden_psnr_db'].get('hidden_share') for s in scores]; sh = [x for x in sh if x is not None]
        row['hidden share'] = float(np.mean(sh)) if sh else float('nan')
        row['seconds'] = (time.time() - t0)/len(images); row['nfe'] = nfe/len(images)
        rows[sname] = row
        print(f"  {sname}: {row['seconds']:.1f} s and {row['nfe']:.0f} NFE per journey", flush=True)
    names = list(rows)
    print(f"\n| metric (target) | " + ' | '.join(names) + ' |')
    print('|---|' + '---|'*len(names))
    for k, (op, x) in TARGETS.items():
        print(f"| {k} ({op} {x:g}) | " + ' | '.join(f"{rows[n][k][0]:.3g} ({rows[n][k][1]}/{rows[n][k][2]} pass)" for n in names) + ' |')
    for k, label in TRUTH.items():
        print(f"| {label} | " + ' | '.join(f"{rows[n][k][0]:.3g} ({rows[n][k][1]}/{rows[n][k][2]})" for n in names) + ' |')
    print(f"| hidden share of Stage I pixels (truth scenes) | " + ' | '.join(f"{rows[n]['hidden share']:.3f}" for n in names) + ' |')
    print(f"| scenes meeting every target | " + ' | '.join(f"{rows[n]['all targets']}/{len(images)}" for n in names) + ' |')
    print(f"| scenes meeting every estimable target | " + ' | '.join(f"{rows[n]['all estimable']}/{len(images)}" for n in names) + ' |')
    print(f"| NFE per journey | " + ' | '.join(f"{rows[n]['nfe']:.0f}" for n in names) + ' |')
    print(f"| seconds per journey (incl. scoring) | " + ' | '.join(f"{rows[n]['seconds']:.1f}" for n in names) + ' |')

if __name__ == '__main__': main()
