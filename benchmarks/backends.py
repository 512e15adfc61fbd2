#!/usr/bin/env python
"""Cost of guided Stage I and plain Stage II on the four diffusers video backends (tiny random weights, CPU), and the
authors' guidance schedule against the cheapest schedule of equal fidelity from `nbs/10_ablations.ipynb`.

    python benchmarks/backends.py                 # all four backends, 2 repeats (about 4 minutes on 1 thread)
    python benchmarks/backends.py --quick         # 1 repeat, SVD's 645-NFE authors' run included (about 2.5 minutes)
    python benchmarks/backends.py --backends cogvideox,wan --threads 2

What runs. Each backend is built by `dreamjourney.video_checkpoints.tiny_pipeline(kind, folder)` (the real checkpoint's
classes, tiny random configs), saved, and loaded twice with `load_backend(folder, guidance_space='latent'|'pixel')`.
The prior video is the explorer's procedural Stage I (`dreamjourney.explorer.explorer_case(16, 9)`: a procedural scene
rendered along the authors' backward path, holes and all): 9 frames of 16×16; with the authors' view padding (4 copies
at each end) 17 frames are sampled (4k+1, and an odd number of latent frames, which CogVideoX's VAE needs, see the
report). EasyAnimate and Wan get the last view as their end frame (`last_image`), as the authors condition Stage I.

Table 1, per backend: one `guided_sample` run per guidance mode (`none` = plain, `jacobian_free`, `dps`) and space,
on the cheap schedule (25 steps, guidance in the first 20, 7 renoise rounds in steps 17–20), and Stage II
(`image_to_video` from the last view, 17 frames, 25 steps, no guidance; the tiny Wan is first-last-frame and needs
an end frame, so its Stage II gets the start image again as `last_image`). NFE counts one classifier-free-guidance pair
as one call (the backends' own counter); `NFE authors` is what the same mode costs on the authors' schedule
(`GuidanceSettings.expected_nfe`). `dps` uses λ = 0.25 (`--dps-weight`; the ablation's value; λ does not change
the cost, and pixel-space dps counts Eq. 11's sum per latent element, so λ means the same in both spaces). Wall time is the whole call (prior encoding with TELEA hole filling, sampling,
decoding), median over repeats after one warm-up run per backend and space. "Per frame": per *output* frame
(9 for Stage I, the padding removed; 17 for Stage II). `× plain`: wall time over plain sampling in the same space;
`× plain lat`: over plain sampling in latent space (the real no-guidance cost). PSNR: `dreamjourney.metrics.masked_psnr` of the sample against the prior video
on visible pixels (random weights: only the differences between rows mean anything; NaN: the sample diverged).

Table 2, per backend, latent space, jacobian-free (the authors' mode): the authors' schedule (`GuidanceSettings()`:
25 steps, 15 renoise rounds in steps 1–20, guidance until 0.8, lr 0.025) against the cheapest schedule of equal
fidelity found by the ablation (`renoise_rounds=7, renoise_from=16, renoise_until=20`, everything else equal).
The ablation found it at lr 0.25 on the Gaussian prior in pixel space; here both schedules use the authors' lr 0.025
(tuned to latents), so only the renoising schedule differs. Same seeds for both; PSNR is the mean over `--seeds`.
"""
import argparse, os, statistics, sys, tempfile, time, warnings
from dataclasses import replace
from pathlib import Path

KINDS = {'cogvideox': 'CogVideoX-I2V', 'easyanimate': 'EasyAnimate', 'svd': 'SVD', 'wan': 'Wan FLF2V'}
CHEAP = dict(renoise_rounds=7, renoise_from=16, renoise_until=20)   # nbs/10_ablations.ipynb: '7 × steps 17–20', 101 of 645 NFE
PROMPT, MOTION = 'a fast camera flyover, cruising steadily across the scene', 'The clouds drift. The grass sways.'

def quiet():
    warnings.filterwarnings('ignore')
    os.environ.setdefault('HF_HUB_DISABLE_PROGRESS_BARS', '1')
    try:
        from huggingface_hub.utils import disable_progress_bars; disable_progress_bars()
    except ImportError: pass
    import logging
    logging.getLogger('diffusers').setLevel(logging.ERROR)
    from diffusers.utils import logging as dlog; dlog.disable_progress_bar(); dlog.set_verbosity_error()
    from transformers.utils import logging as tlog; tlog.disable_progress_bar(); tlog.set_verbosity_error()

def loadavg(): return ' '.join(f'{x:.2f}' for x in os.getloadavg())

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1: the 2-thread pool collapses on a busy 2-core machine)')
    p.add_argument('--repeat', type=int, default=2, help='timed runs per Table 1 row (median)')
    p.add_argument('--seeds', type=int, default=1, help='seeds per schedule in Table 2 (PSNR averaged, time median)')
    p.add_argument('--quick', action='store_true', help='1 repeat, 1 seed')
    p.add_argument('--backends', default=','.join(KINDS), help=f'comma-separated subset of {",".join(KINDS)}')
    p.add_argument('--dps-weight', type=float, default=0.25, help="λ of 'dps' (default 0.25, the ablation's)")
    p.add_argument('--size', type=int, default=16, help='frame height and width (the tiny CogVideoX runs only at 16)')
    p.add_argument('--frames', type=int, default=9, help='prior video frames (sampled: frames + 8; keep frames + 8 = 8k+1 for CogVideoX)')
    a = p.parse_args()
    if a.quick: a.repeat, a.seeds = 1, 1
    kinds = [k for k in a.backends.split(',') if k]
    for k in kinds:
        if k not in KINDS: p.error(f'unknown backend {k!r}; choose from {",".join(KINDS)}')

    quiet()
    import torch
    torch.set_num_threads(a.threads)
    import diffusers, transformers
    from dreamjourney.video_checkpoints import tiny_pipeline, load_backend
    from dreamjourney.guidance import GuidanceSettings, guided_sample
    from dreamjourney.explorer import explorer_case
    from dreamjourney.metrics import masked_psnr

    t_start = time.perf_counter()
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__}; "
          f"threads {torch.get_num_threads()} of {os.cpu_count()} CPUs; load average {loadavg()} (1, 5, 15 min); "
          f"repeat {a.repeat}, seeds {a.seeds}")
    case = explorer_case(a.size, a.frames)
    V, M = case.video, case.mask
    authors = GuidanceSettings()
    authors = replace(authors, weight=a.dps_weight)              # λ only matters in 'dps' rows (Table 2 is jacobian_free)
    cheap = replace(authors, **CHEAP).check()
    pad, F_out = authors.pad, V.shape[0]
    F_s = F_out + 2*pad
    print(f"prior: explorer_case({a.size}, {a.frames}): {F_out}×3×{a.size}×{a.size}, {100*M.mean():.0f}% visible; "
          f"sampled {F_s} frames (pad {pad}); Stage II {F_s} frames, {authors.steps} steps")
    print(f"Table 1 schedule (cheap): {authors.steps} steps, guide_until {cheap.guide_until}, {cheap.renoise_rounds} rounds in steps "
          f"{cheap.renoise_from + 1}–{cheap.renoise_until}, lr {cheap.lr}, dps λ {cheap.weight}; "
          f"authors': {authors.renoise_rounds} rounds in steps {authors.renoise_from + 1}–{authors.renoise_until}")

    tmp = Path(tempfile.mkdtemp(prefix='dj_bench_'))
    rows1, rows2, problems = {}, {}, []

    def condition(b, seed=0):
        kw = dict(last_image=V[-1]) if b.takes_end_frame else {}
        b.condition(case.image, PROMPT, generator=torch.Generator().manual_seed(seed), **kw)

    def stage_one(b, S, seed):
        condition(b, seed)
        t0 = time.perf_counter()
        r = guided_sample(b, V, M, S, generator=seed)
        dt = time.perf_counter() - t0
        if r.nfe != S.expected_nfe(): problems.append(f"{type(b).__name__} {b.space} {S.mode}: NFE {r.nfe} ≠ expected {S.expected_nfe()}")
        if not torch.isfinite(r.video).all(): problems.append(f"{type(b).__name__} {b.space} {S.mode}: non-finite output video")
        if r.video.shape[0] != F_out: problems.append(f"{type(b).__name__} {b.space} {S.mode}: {r.video.shape[0]} output frames, expected {F_out}")
        return dict(nfe=r.nfe, s=dt, frames=r.video.shape[0], psnr=masked_psnr(r.video, V, M))

    def stage_two(b, seed):
        kw = dict(last_image=V[-1]) if type(b).__name__ == 'WanBackend' else {}   # the tiny Wan is FLF2V: it needs an end frame
        n0 = b.nfe; t0 = time.perf_counter()
        clip = b.image_to_video(V[-1], MOTION, steps=authors.steps, num_frames=F_s,
                                generator=torch.Generator().manual_seed(seed), **kw)
        return dict(nfe=b.nfe - n0, s=time.perf_counter() - t0, frames=clip.shape[0], psnr=None)

    def median(runs):
        return dict(nfe=runs[0]['nfe'], s=statistics.median(r['s'] for r in runs), frames=runs[0]['frames'],
                    psnr=None if runs[0]['psnr'] is None else statistics.mean(r['psnr'] for r in runs))

    for kind in kinds:
        t0 = time.perf_counter()
        folder = tiny_pipeline(kind, tmp/kind)
        bk = {sp: load_backend(folder, guidance_space=sp) for sp in ('latent', 'pixel')}
        for b in bk.values(): b.pipe.set_progress_bar_config(disable=True)
        print(f"[{KINDS[kind]}] built and loaded in {time.perf_counter() - t0:.1f}s, load {loadavg()}", file=sys.stderr, flush=True)
        for sp, b in bk.items():                                     # warm-up: one short run of each mode
            for mode in ('none', 'jacobian_free', 'dps'): stage_one(b, replace(cheap, steps=2, renoise_until=1, renoise_from=0, renoise_rounds=1, mode=mode), 0)
        out = {}
        for sp, b in bk.items():
            for mode in ('none', 'jacobian_free', 'dps'):
                out[mode, sp] = median([stage_one(b, replace(cheap, mode=mode), seed) for seed in range(a.repeat)])
        b = bk['latent']
        stage_two(b, 0)                                              # warm-up at this frame count
        out['stage2', 'latent'] = median([stage_two(b, seed) for seed in range(a.repeat)])
        rows1[kind] = out
        sched = {}
        for name, S in (("authors'", authors), ('cheapest', cheap)):
            sched[name] = median([stage_one(b, S, seed) for seed in range(a.seeds)])
        rows2[kind] = sched
        print(f"[{KINDS[kind]}] done in {time.perf_counter() - t0:.1f}s, load {loadavg()}", file=sys.stderr, flush=True)

    print(f"\nTable 1: NFE and wall time per output frame; Stage I on the cheap schedule, Stage II plain "
          f"(median of {a.repeat}; threads {torch.get_num_threads()})")
    hdr = (f"{'backend':14s} {'run':17s} {'space':6s} {'NFE':>5s} {'NFE/fr':>7s} {'NFE authors':>11s} {'s/frame':>8s} "
           f"{'ms/NFE':>7s} {'× plain':>8s} {'× plain lat':>11s} {'PSNR vis':>9s}")
    print(hdr); print('-'*len(hdr))
    for kind, out in rows1.items():
        plain_lat = out['none', 'latent']['s']
        for (mode, sp), r in out.items():
            plain = out['none', sp]['s'] if mode != 'stage2' else plain_lat
            run = {'none': 'I plain', 'jacobian_free': 'I jacobian_free', 'dps': 'I dps', 'stage2': 'II image_to_video'}[mode]
            n_auth = replace(authors, mode=mode).expected_nfe() if mode != 'stage2' else authors.steps
            ratio = f"{r['s']/plain:8.2f}" if mode != 'stage2' else f"{'':8s}"
            print(f"{KINDS[kind]:14s} {run:17s} {sp:6s} {r['nfe']:5d} {r['nfe']/r['frames']:7.1f} {n_auth:11d} "
                  f"{r['s']/r['frames']:8.3f} {1e3*r['s']/r['nfe']:7.1f} {ratio} {r['s']/plain_lat:11.2f} "
                  + (f"{'—':>9s}" if r['psnr'] is None else f"{r['psnr']:9.2f}"))
        print()

    print(f"Table 2: authors' schedule vs the cheapest of equal fidelity (nbs/10_ablations), latent space, jacobian_free, "
          f"{a.seeds} seed(s)")
    hdr = (f"{'backend':14s} {'schedule':26s} {'NFE':>5s} {'NFE/fr':>7s} {'s':>7s} {'s/frame':>8s} {'speed-up':>8s} "
           f"{'PSNR vis':>9s} {'ΔPSNR':>7s}")
    print(hdr); print('-'*len(hdr))
    for kind, sched in rows2.items():
        ref = sched["authors'"]
        for name, S in (("authors'", authors), ('cheapest', cheap)):
            r = sched[name]
            label = f"{name} {S.renoise_rounds}× steps {S.renoise_from + 1}–{S.renoise_until}"
            print(f"{KINDS[kind]:14s} {label:26s} {r['nfe']:5d} {r['nfe']/r['frames']:7.1f} {r['s']:7.2f} {r['s']/r['frames']:8.3f} "
                  f"{ref['s']/r['s']:8.2f} {r['psnr']:9.2f} {r['psnr'] - ref['psnr']:+7.2f}")
        print()
    for q in problems: print('PROBLEM:', q)
    print(f"total {time.perf_counter() - t_start:.0f}s; load average at the end {loadavg()}")

if __name__ == '__main__': main()
