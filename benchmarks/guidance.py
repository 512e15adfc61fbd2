#!/usr/bin/env python
"""Cost of one guided sampling step relative to one plain step, per guidance mode, in one run.

    python benchmarks/guidance.py                     # Gaussian prior + tiny CogVideoX transformer, CPU (and CUDA if present)
    python benchmarks/guidance.py --repeat 20 --threads 1            # steadier on a shared CPU
    python benchmarks/guidance.py --repeat 20 --size medium --device cuda

Models:
* gaussian   `GaussianPriorBackend` (exact Wiener denoiser, pixel space), 16 frames of 3×64×64.
* cogvideox  a randomly initialised `diffusers.CogVideoXTransformer3DModel` behind a minimal latent VP backend
             (v-prediction, DDIM on CogVideoX's zero-SNR scaled-linear schedule, trailing timesteps, a CFG batch of 2
             counted as one network call). `--size small`: 2 layers, width 64, latents 4×4×16×16; `medium`: 4 layers,
             width 512, latents 13×16×30×45 (CogVideoX-2B's latent grid for 49 frames of 480×720).

Modes, each one call of `dreamjourney.guidance.guided_step` at a mid-schedule level:
* plain              the ordinary step: one network call
* jf (authors)       jacobian-free, network re-run after the guidance move (`reevaluate=True`): two calls
* jf (skip path)     jacobian-free, x̂0 moved along the skip path (`reevaluate=False`): one call + a cheap backward
* dps                Eq. 11: one call with its graph and a backward through the network
* dps + ckpt         the same with the transformer's gradient checkpointing (cogvideox only)

Each (model, mode) runs in its own subprocess so that peak memory is its own: torch.cuda.max_memory_allocated on CUDA,
peak resident set size minus the size after warm-up on CPU. Times are medians over `--repeat` steps after 2 warm-ups.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

MODES = ['plain', 'jf (authors)', 'jf (skip path)', 'dps', 'dps + ckpt']

def rss_mb():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def peak_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def cogvideox_backend(size, device):
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from dreamjourney.guidance import VideoBackend
    from dreamjourney.diffusion import (beta_schedule, rescale_zero_terminal_snr, alphas_cumprod, snr_shift, ddim_timesteps,
                                        pred_to_x0, ddim_step)
    cfg = dict(small=dict(layers=2, heads=2, dim=32, F=4, C=16, h=16, w=16, text=8),
               medium=dict(layers=4, heads=8, dim=64, F=13, C=16, h=30, w=45, text=32))[size]
    torch.manual_seed(0)
    model = CogVideoXTransformer3DModel(num_attention_heads=cfg['heads'], attention_head_dim=cfg['dim'], in_channels=cfg['C'],
                                        out_channels=cfg['C'], time_embed_dim=64, text_embed_dim=64, num_layers=cfg['layers'],
                                        sample_width=cfg['w']*8, sample_height=cfg['h']*8, sample_frames=(cfg['F'] - 1)*4 + 1,
                                        max_text_seq_length=cfg['text']).to(device).eval().requires_grad_(False)

    class TinyCogVideoX(VideoBackend):
        "Minimal latent VP backend around a CogVideoX transformer (v-prediction, DDIM, CFG pair)."
        space, parameterization = 'latent', 'vp'
        def __init__(self, model, cfg_scale=6.):
            super().__init__(); self.model, self.cfg_scale = model, cfg_scale
            self.abar = snr_shift(alphas_cumprod(rescale_zero_terminal_snr(beta_schedule('scaled_linear', 1000, 0.00085, 0.012))), 3.0).double()
            self.text = torch.randn(2, cfg['text'], 64, device=device)
        def levels(self, steps):
            self.t = ddim_timesteps(steps, 1000, 'trailing')
            self._levels = torch.cat([self.abar[self.t], torch.ones(1, dtype=torch.float64)]); return self._levels
        def coefficients(self, i):
            ab = float(self._levels[i]); return ab**0.5, (1 - ab)**0.5
        def denoise(self, x, i, detach_network=False):
            self.count(2)
            t = self.t[i].to(device).expand(2)
            with torch.set_grad_enabled(torch.is_grad_enabled() and not detach_network):
                u, c = self.model(torch.cat([x, x]), self.text, t).sample.chunk(2)
                v = u + self.cfg_scale*(c - u)
            return pred_to_x0(v.detach() if detach_network else v, x, float(self._levels[i]), 'v_prediction')
        def step(self, x, x0, i, generator=None):
            t, tp = int(self.t[i]), (int(self.t[i + 1]) if i + 1 < len(self.t) else -1)
            return ddim_step(x0, t, tp, x, self.abar, prediction_type='sample')
        def prior_to_space(self, video, mask): raise NotImplementedError('benchmark only')
        def to_video(self, x): raise NotImplementedError('benchmark only')

    be = TinyCogVideoX(model)
    g = torch.Generator(device='cpu').manual_seed(0)
    shape = (1, cfg['F'], cfg['C'], cfg['h'], cfg['w'])
    target = torch.randn(shape, generator=g).to(device)
    mask = (torch.rand((1, cfg['F'], 1, cfg['h'], cfg['w']), generator=g) > 0.5).float().to(device)
    desc = (f"CogVideoXTransformer3DModel random, {cfg['layers']} layers, width {cfg['heads']*cfg['dim']}, "
            f"latents {cfg['F']}×{cfg['C']}×{cfg['h']}×{cfg['w']}, CFG pair, {sum(p.numel() for p in model.parameters())/1e6:.1f}M params")
    return be, target, mask, desc

def gaussian_backend(size, device):
    import torch
    from dreamjourney.gaussian_prior import GaussianVideoPrior, landscape_image
    from dreamjourney.guidance import GaussianPriorBackend
    H, F = (64, 16) if size == 'small' else (128, 56)
    be = GaussianPriorBackend(GaussianVideoPrior.fit(landscape_image(H, H), frames=F))
    be.prior.spectrum, be.prior.mean = be.prior.spectrum.to(device), be.prior.mean.to(device)
    V = be.prior.sample(1, seed=0)[0].to(device)
    M = torch.zeros(F, 1, H, H, device=device); M[:, :, :, :H//2] = 1
    return be, V, M, f"GaussianPriorBackend, video {F}×3×{H}×{H} (pixel space, exact Wiener denoiser)"

def worker(model, mode, size, repeat, device):
    import torch
    from dreamjourney.guidance import GuidanceSettings, guided_step
    torch.manual_seed(0)
    be, target, mask, desc = (cogvideox_backend if model == 'cogvideox' else gaussian_backend)(size, device)
    if mode == 'dps + ckpt':
        if model != 'cogvideox': return dict(model=model, mode=mode, skipped=True)
        be.model.enable_gradient_checkpointing(); be.model.train()     # checkpointing is active in training mode (dropout is 0)
    steps = 25; be.levels(steps); i = 8
    S = {'plain': GuidanceSettings(mode='none'), 'jf (authors)': GuidanceSettings(), 'jf (skip path)': GuidanceSettings(reevaluate=False),
         'dps': GuidanceSettings.paper(0.1), 'dps + ckpt': GuidanceSettings.paper(0.1)}[mode]
    x = be.init_noise(target.shape, None, device=device)
    sync = (lambda: torch.cuda.synchronize()) if device == 'cuda' else (lambda: None)
    sync()
    if device == 'cuda': torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    else: base = rss_mb()                     # before the first guided step: the peak above it is the step's own memory
    for _ in range(2): guided_step(be, x, i, target, mask, S, guide=mode != 'plain')
    sync()
    be.reset_counts(); times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); guided_step(be, x, i, target, mask, S, guide=mode != 'plain'); sync()
        times.append(time.perf_counter() - t0)
    peak = (torch.cuda.max_memory_allocated() - base)/2**20 if device == 'cuda' else peak_mb() - base
    return dict(model=model, mode=mode, desc=desc, ms=1e3*statistics.median(times), nfe_per_step=be.nfe/repeat,
                peak_mb=peak, threads=torch.get_num_threads())

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeat', type=int, default=10)
    p.add_argument('--size', default='small', choices=['small', 'medium'])
    p.add_argument('--device', default=None, help='cpu or cuda (default: both when CUDA is present)')
    p.add_argument('--models', default='gaussian,cogvideox')
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default; 1 gives steadier numbers on a busy machine)')
    p.add_argument('--worker', nargs=6, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        model, mode, size, repeat, device, threads = a.worker
        import torch
        if int(threads): torch.set_num_threads(int(threads))
        print(json.dumps(worker(model, mode, size, int(repeat), device))); return
    import torch
    devices = [a.device] if a.device else (['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu'])
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, devices {devices}, size {a.size}, repeat {a.repeat}, threads {a.threads or 'default'}")
    for device in devices:
        for model in a.models.split(','):
            rows = []
            for mode in MODES:
                out = subprocess.run([sys.executable, __file__, '--worker', model, mode, a.size, str(a.repeat), device, str(a.threads)],
                                     capture_output=True, text=True)
                if out.returncode: print(out.stderr[-2000:]); continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                if not r.get('skipped'): rows.append(r)
            if not rows: continue
            plain = rows[0]['ms']
            print(f"\n[{device}] {rows[0]['desc']}")
            print(f"  {'mode':16s} {'ms/step':>9s} {'× plain':>8s} {'NFE/step':>9s} {'peak MB':>9s}")
            for r in rows: print(f"  {r['mode']:16s} {r['ms']:9.2f} {r['ms']/plain:8.2f} {r['nfe_per_step']:9.1f} {r['peak_mb']:9.1f}")

if __name__ == '__main__': main()
