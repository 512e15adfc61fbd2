#!/usr/bin/env python
"""Seconds and peak memory of the four real video checkpoints at their true shapes (issue 22), measured on real-shape
checkpoints (`dreamjourney.real_shapes`: the real configurations with every repeated block cut to one, random weights) and
extrapolated to the full layer count. Writes benchmarks/results/real_shapes.json (the measurements, one entry per device and
backend, so backends can be measured in separate runs) and benchmarks/results/real_shapes.md (the table), and prints the table.

    flock /tmp/heavy.lock nice -n 5 python benchmarks/real_shapes.py --kinds cogvideox-i2v     # one backend on the CPU
    python benchmarks/real_shapes.py --table                                                    # the table from the saved measurements
    python benchmarks/real_shapes.py --device cuda                                              # a GPU: bfloat16, the true frame counts
    python benchmarks/real_shapes.py --smoke                                                    # the code path on tiny checkpoints (seconds)

What is measured, per backend, with the backend classes of `06_video_models` (the code a journey runs):
* the denoiser: one network call at step 0 with classifier-free guidance (a batch of 2, as every guided journey step), unguided
  (forward under no_grad, as the authors' jacobian-free guidance and Stage II run it) and guided (forward and backward through x̂0, as
  `dps` runs it: `predict_x0` then the gradient of a loss on x̂0 with respect to the sample). Forward hooks time the kept block and
  read its memory; backward hooks time its backward. The rest of the call (embeddings, projections, the scheduler arithmetic) is
  "outside the blocks". SVD's UNet is whole: its "layer" is the whole UNet.
* the text and image encoders (one layer each), timed by hooks while the backend conditions on an image and a prompt.
* the VAE at full width: the backend's own `encode` and `decode` of a clip at the true spatial size, untiled and tiled.

Peak memory: on a GPU, torch.cuda.max_memory_allocated above what was allocated before (weights and inputs excluded). On the CPU,
the process's peak resident memory above its resident memory before (the kernel's high-water mark, reset before each
measurement through /proc/self/clear_refs), with glibc told to return every freed block over 128 kB to the system at once
(MALLOC_MMAP_THRESHOLD_, set by re-executing this script), so that the high-water mark follows the live tensors.

Extrapolation (every figure after the measured ones is an ESTIMATE, and the table says so):
* layers: a call costs (outside the blocks) + L × (one block); memory: a no-grad call holds one block's activations at a time, a
  guided call keeps every block's saved activations until the backward (L × the kept block's), or only every block's input with
  gradient checkpointing.
* frames: where the CPU measures fewer frames than the model's true count (at the true spatial size), self-attention time is
  scaled quadratically in its sequence length and everything else linearly in the video tokens (memory too, linearly: flash
  attention holds no N² matrix); the VAEs' time is a + b·frames from two frame counts, their memory is taken from the larger count
  (they encode and decode in chunks of a few frames: SVD's backend 8 frames at a time, both ways; its VAE has no tiling).
* bfloat16 from a float32 CPU measurement: activations halved. Weights are exact (`model_memory` of 06, bf16 bytes).
* a stage: the authors' Stage I schedule (25 steps, 15 renoising rounds in the first 20, jacobian-free guidance with re-evaluation:
  `GuidanceSettings().expected_nfe()` network calls on the sampled frames, view padding included), the VAE encode of the prior video
  and the decode of the sample; Stage II: the backend's default steps, unguided, and the decode. Depth and inpainting are not counted.
* a card fits a setting if its estimated peak is at most the card's size less 1 GiB (CUDA context, fragmentation).
"""
import os, sys
if sys.platform.startswith('linux') and 'MALLOC_MMAP_THRESHOLD_' not in os.environ:   # before torch allocates anything: see above
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, 'MALLOC_MMAP_THRESHOLD_': '131072'})
import argparse, ctypes, gc, json, math, re, tempfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent
GiB = 2**30
CARDS = (24, 40, 80)
VAE_FRAMES_CPU = {'svd': (1, 2)}          # frame counts the CPU encodes and decodes (others: 1 and 5, as 4k+1 for 4× temporal VAEs;
                                          # SVD's VAE at 576×1024: 8 frames at once pass 14 GiB in float32)
DENOISER_FRAMES_CPU = {'cogvideox-i2v': 17, 'easyanimate': 17, 'svd': 1, 'wan-flf2v': 5}   # sampled frames measured on the CPU
GUIDED_BATCH1_CPU = {'svd'}   # guided call measured without the CFG pair (batch 1) on the CPU, and doubled: the whole UNet's backward
                              # at 576×1024 with a batch of 2 passes 14 GiB in float32
VAE_CHUNK_FRAMES = {   # (kind, op) → the pixel frames a VAE holds at once in diffusers 0.42 (None: all of them), for its peak at the true length
    ('cogvideox-i2v', 'encode'): 9,    # batches of 8 frames, the first with the remainder (49 → 9)
    ('cogvideox-i2v', 'decode'): 9,    # batches of 2 latent frames, the first with the remainder (13 → 3 latent → 9 frames)
    ('easyanimate', 'encode'): 4, ('easyanimate', 'decode'): 4,   # the first frame, then 4 frames (encode) or 1 latent frame (decode) at a time
    ('wan-flf2v', 'encode'): 4, ('wan-flf2v', 'decode'): 4,       # the same, with feature caches
    ('svd', 'encode'): 8,              # SVDBackend.encode, like its decode, takes decode_chunk_size frames at a time (issue 22; before: all at once)
    ('svd', 'decode'): 8,              # SVDBackend.decode_chunk_size
}

def quiet():
    warnings.filterwarnings('ignore')
    os.environ.setdefault('HF_HUB_DISABLE_PROGRESS_BARS', '1')
    import logging
    logging.getLogger('diffusers').setLevel(logging.ERROR)
    from diffusers.utils import logging as dlog; dlog.disable_progress_bar(); dlog.set_verbosity_error()
    from transformers.utils import logging as tlog; tlog.disable_progress_bar(); tlog.set_verbosity_error()

# ---- memory and time
def _status(key):
    return int(re.search(rf'{key}:\s+(\d+) kB', Path('/proc/self/status').read_text()).group(1)) * 1024

class Meter:
    "Seconds and peak memory above the start of a block of work (CUDA's max allocated on a GPU, the peak RSS on the CPU)."
    def __init__(self, device): self.cuda = str(device).startswith('cuda')
    def current(self):
        import torch
        return torch.cuda.memory_allocated() if self.cuda else _status('VmRSS')
    def __enter__(self):
        import torch
        gc.collect()
        if self.cuda: torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        else:
            try: ctypes.CDLL('libc.so.6').malloc_trim(0)
            except OSError: pass
            Path('/proc/self/clear_refs').write_text('5')      # reset the high-water mark to the current RSS
        self.base, self.t0 = self.current(), time.perf_counter()
        return self
    def now(self):
        "Memory held now, above the start."
        import torch
        if self.cuda: torch.cuda.synchronize()
        return self.current() - self.base
    def __exit__(self, *exc):
        import torch
        if self.cuda: torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.t0
        self.peak = (torch.cuda.max_memory_allocated() if self.cuda else _status('VmHWM')) - self.base

# ---- building
def blocks_of(denoiser):
    "The repeated blocks of a denoiser (empty for a UNet: it is measured whole)."
    for attr in ('transformer_blocks', 'blocks'):
        if hasattr(denoiser, attr): return list(getattr(denoiser, attr))
    return []

def build(kind, vae, device, dtype, smoke, tmp):
    "The backend on a real-shape pipeline (or, with --smoke, on the tiny checkpoint), on `device` in `dtype`."
    import torch
    from dreamjourney.video_checkpoints import load_backend
    if smoke:
        from dreamjourney.video_checkpoints import tiny_pipeline
        kw = {'cogvideox-i2v': dict(sample=(8, 12), frames=49), 'svd': dict(frames=25)}.get(kind, {})
        b = load_backend(tiny_pipeline({'cogvideox-i2v': 'cogvideox', 'wan-flf2v': 'wan'}.get(kind, kind), Path(tmp)/kind, **kw))
    else:
        from dreamjourney.real_shapes import REAL_SHAPE_KINDS, REAL_SHAPE_BACKENDS, real_shape_pipeline
        b = REAL_SHAPE_BACKENDS[REAL_SHAPE_KINDS[kind]](real_shape_pipeline(kind, vae))
    return b.to(device, dtype)

def true_shape(b, kind, smoke):
    "(height, width) and the frame counts of a journey with this backend's defaults: Stage I sampled (padding included), Stage I output, Stage II."
    d = b.journey_defaults()
    H, W = (64, 64) if smoke and kind != 'cogvideox-i2v' else d['size']
    pad = d['guidance'].pad
    return dict(height=H, width=W, stage1_sampled=d['frames'] + 2*pad, stage1_frames=d['frames'], stage2_frames=d['motion_frames'],
                stage2_steps=d['stage2_steps'], guidance=d['guidance'])

def video_tokens(b, frames, H, W):
    "Tokens of the denoiser's video sequence for `frames` pixel frames: latent frames × 2×2 patches (SVD's UNet: latent pixels of every frame)."
    from dreamjourney.video_models import latent_frames
    if b.temporal == 1: return frames * (H // b.spatial) * (W // b.spatial)
    return latent_frames(frames, b.temporal) * (H // b.spatial // 2) * (W // b.spatial // 2)

def _get(cfg, key):
    for k in key.split('.'): cfg = cfg[k]
    return cfg

def layer_counts(kind):
    "component → (real count, kept count) of its repeated blocks, from REAL_CONFIGS and BLOCK_CUTS (the language layers for Qwen2-VL)."
    from dreamjourney.real_shapes import REAL_SHAPE_KINDS, BLOCK_CUTS
    from dreamjourney.memory import REAL_CONFIGS
    name = REAL_SHAPE_KINDS[kind]
    out = {}
    for comp, cuts in BLOCK_CUTS[name].items():
        key = 'text_config.num_hidden_layers' if 'text_config.num_hidden_layers' in cuts else next(iter(cuts))
        out[comp] = (_get(REAL_CONFIGS[name][comp][1], key), cuts[key])
    return out

# ---- measuring
PROMPT = 'a fast camera flyover, cruising steadily across the scene'
NEGATIVE = 'camera shake, sudden cuts, blurry, low quality'

def _sdpa_parts(prof):
    "Self-attention pieces (seconds, query length) and cross-attention seconds of a profiled run (forward and backward kernels)."
    selfs, cross = [], 0.
    for e in prof.events():
        if e.name == 'aten::scaled_dot_product_attention': q, k = e.input_shapes[0], e.input_shapes[1]
        elif re.fullmatch(r'aten::_scaled_dot_product_\w+_backward', e.name): q, k = e.input_shapes[1], e.input_shapes[2]
        else: continue
        s = e.cpu_time_total / 1e6
        if q and k and q[-2] == k[-2]: selfs.append((s, q[-2]))
        else: cross += s
    return selfs, cross

class Hooks:
    "Forward hooks that time and weigh a module's calls inside a measured call (summed over calls, peak the largest)."
    def __init__(self, module, device, inputs=False):
        self.device, self.inputs, self.calls, self.seconds, self.held, self.input_bytes = device, inputs, 0, 0., 0, 0
        self.h = [module.register_forward_pre_hook(self.pre, with_kwargs=True), module.register_forward_hook(self.post)]
    def sync(self):
        import torch
        if str(self.device).startswith('cuda'): torch.cuda.synchronize()
    def pre(self, mod, args, kwargs):
        import torch
        self.sync(); self.t0, self.m0 = time.perf_counter(), _live(self.device)
        if self.inputs:
            ts = [v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor) and v.requires_grad]
            self.input_bytes = max(self.input_bytes, sum(t.numel() * t.element_size() for t in ts))
    def post(self, mod, args, out):
        self.sync(); self.calls += 1; self.seconds += time.perf_counter() - self.t0
        self.held = max(self.held, _live(self.device) - self.m0)   # what the module's call leaves behind: its output and saved activations
    def remove(self):
        for h in self.h: h.remove()

def _live(device):
    import torch
    return torch.cuda.memory_allocated() if str(device).startswith('cuda') else _status('VmRSS')

class Weigh:
    "Hooks that open a Meter around every call of a module (an encoder): seconds summed, peak the largest."
    def __init__(self, module, device):
        self.device, self.calls, self.seconds, self.peak = device, 0, 0., 0
        self.h = [module.register_forward_pre_hook(self.pre, with_kwargs=True), module.register_forward_hook(self.post)]
    def pre(self, mod, args, kwargs): self.m = Meter(self.device).__enter__()
    def post(self, mod, args, out):
        self.m.__exit__(); self.calls += 1; self.seconds += self.m.seconds; self.peak = max(self.peak, self.m.peak)
    def remove(self):
        for h in self.h: h.remove()

def measure_network(b, kind, F, H, W, device):
    "The encoders while conditioning on an image and a prompt, then one network call with CFG: unguided (no_grad), and guided (forward + backward through x̂0)."
    import torch
    from torch.profiler import profile, ProfilerActivity
    from PIL import Image
    from dreamjourney.gaussian_prior import landscape_image
    img = Image.fromarray(landscape_image(H, W, seed=1))
    encs = {c: Weigh(getattr(b.pipe, c), device) for c in ('text_encoder', 'image_encoder') if getattr(b.pipe, c, None) is not None}
    t0 = time.perf_counter()
    b.condition(img, PROMPT, num_frames=F, height=H, width=W, last_image=img if b.takes_end_frame else None, negative_prompt=NEGATIVE,
                generator=torch.Generator().manual_seed(0))
    out = dict(frames=F, tokens=video_tokens(b, F, H, W), condition_s=time.perf_counter() - t0,
               encoders={c: dict(calls=w.calls, s=w.seconds, peak=w.peak) for c, w in encs.items()})
    for w in encs.values(): w.remove()
    for c in encs: setattr(b.pipe, c, None)    # the network needs the embeddings only: free the encoders' memory
    gc.collect()
    b.levels(25)
    x = b.init_noise(b.latent_shape, torch.Generator().manual_seed(0))
    blocks = blocks_of(b.denoiser)
    cpu = not str(device).startswith('cuda')
    for mode in ('unguided', 'guided'):
        batch = 1 if (mode == 'guided' and cpu and kind in GUIDED_BATCH1_CPU) else 2
        scale, b.guidance_scale = b.guidance_scale, (1.0 if batch == 1 else b.guidance_scale)   # 1: no CFG pair
        hk = Hooks(blocks[0], device, inputs=True) if blocks else None
        prof = profile(activities=[ProfilerActivity.CPU], record_shapes=True) if cpu else _null()
        with prof as p, Meter(device) as m:
            if mode == 'unguided':
                with torch.no_grad(): y = b.network(x, 0)
            else:
                xg = x.clone().requires_grad_(True)
                tf = time.perf_counter(); x0 = b.predict_x0(xg, 0); fwd = time.perf_counter() - tf; held = m.now()
                tb = time.perf_counter(); x0.float().square().mean().backward(); bwd = time.perf_counter() - tb
                y = x0.detach(); del x0, xg
        b.guidance_scale = scale
        r = dict(s=m.seconds, peak=m.peak, finite=bool(torch.isfinite(y).all()), batch=batch)
        if mode == 'guided': r.update(fwd_s=fwd, bwd_s=bwd, held_after_fwd=held)
        if hk: r.update(block_fwd_s=hk.seconds, block_held=hk.held, block_input_bytes=hk.input_bytes); hk.remove()
        if cpu:
            selfs, cross = _sdpa_parts(p)
            r.update(self_attn=[list(t) for t in selfs], cross_attn_s=cross)
        out[mode] = r
        del y
    return out

class _null:
    def __enter__(self): return None
    def __exit__(self, *a): pass

def vae_backend(kind, device, dtype, smoke, tmp):
    "A backend whose pipeline holds only the whole VAE (the other models dropped after the backend is built): its encode and decode."
    import torch
    from dreamjourney.real_shapes import REAL_SHAPE_KINDS, REAL_SHAPE_BACKENDS, real_shape_pipeline, real_shape_model
    if smoke: b = build(kind, 'full', device, dtype, smoke, tmp)
    else:
        name = REAL_SHAPE_KINDS[kind]
        b = REAL_SHAPE_BACKENDS[name](real_shape_pipeline(kind, device='meta'))
        b.pipe.vae = real_shape_model(name, 'vae').to(device, dtype)
    for c, m in list(b.pipe.components.items()):
        if c != 'vae' and isinstance(m, torch.nn.Module): setattr(b.pipe, c, None)
    return b

def vae_child(spec):
    "In a child process: one encode and decode of `frames` frames at the true size; prints the result as JSON (the last line)."
    import torch
    from dreamjourney.gaussian_prior import landscape_image
    quiet()
    torch.set_num_threads(spec['threads'])
    if not spec['device'].startswith('cuda'): watchdog(int(spec['max_rss_gb'] * GiB))
    b = vae_backend(spec['kind'], spec['device'], getattr(torch, spec['dtype']), spec['smoke'], spec['tmp'])
    vae = b.pipe.vae
    try: vae.enable_tiling() if spec['tiled'] else vae.disable_tiling()
    except (AttributeError, NotImplementedError) as e: print(json.dumps(dict(error=f'no tiling ({type(e).__name__})'))); return
    H, W, F = spec['height'], spec['width'], spec['frames']
    img = torch.from_numpy(landscape_image(H, W, seed=2)).permute(2, 0, 1).float() / 127.5 - 1
    video = (img[None] + 0.1 * torch.randn(F, *img.shape, generator=torch.Generator().manual_seed(F))).clamp(-1, 1)   # a slowly varying clip
    _RUNNING[0] = f"VAE encode of {F} frames, {'tiled' if spec['tiled'] else 'untiled'}"
    with Meter(spec['device']) as me, torch.no_grad(): lat = b.encode(video.to(spec['device']))
    _RUNNING[0] = f"VAE decode of {F} frames, {'tiled' if spec['tiled'] else 'untiled'}"
    with Meter(spec['device']) as md, torch.no_grad(): y = b.decode(lat)
    print(json.dumps(dict(encode_s=me.seconds, encode_peak=me.peak, decode_s=md.seconds, decode_peak=md.peak, latent=list(lat.shape),
                          decoded=list(y.shape), finite=bool(torch.isfinite(y).all()))))

def measure_vae(kind, H, W, frames_list, a, tmp):
    "The backend's encode and decode of a clip at the true spatial size with the whole VAE, untiled and tiled, each run in a child process."
    import subprocess
    out = {}
    for tiled in ((False,) if a.untiled_only else (False, True)):
        rows = {}
        for F in frames_list:
            spec = dict(kind=kind, tiled=tiled, frames=F, height=H, width=W, device=a.device, dtype=a.dtype, smoke=a.smoke, tmp=tmp,
                        threads=a.threads, max_rss_gb=a.max_rss_gb)
            p = subprocess.run([sys.executable, __file__, '--vae-child', json.dumps(spec)], capture_output=True, text=True)
            last = (p.stdout.strip().splitlines() or [''])[-1]
            if p.returncode == 3: r = dict(error=f'over {a.max_rss_gb:g} GiB resident')
            elif p.returncode != 0 or not last.startswith('{'): r = dict(error=f'failed (exit {p.returncode}): ' + (p.stderr.strip().splitlines() or [''])[-1][:200])
            else: r = json.loads(last)
            rows[F] = r
            tag = f"  VAE {'tiled  ' if tiled else 'untiled'} {F:3d} frames:"
            print(f"{tag} {r['error']}" if 'error' in r else f"{tag} encode {r['encode_s']:7.1f} s {r['encode_peak']/GiB:6.2f} GiB, "
                  f"decode {r['decode_s']:7.1f} s {r['decode_peak']/GiB:6.2f} GiB", flush=True)
            if 'error' in r: break
        out['tiled' if tiled else 'untiled'] = rows
    return out

_RUNNING = ['start']

def watchdog(limit_bytes):
    "Stop the process (exit 3) if its resident memory passes `limit_bytes`: the machine is shared."
    import threading
    def run():
        while True:
            if _status('VmRSS') > limit_bytes:
                print(f'\nreal_shapes.py: resident memory passed {limit_bytes/GiB:.1f} GiB during: {_RUNNING[0]}; stopped', file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.1)
    threading.Thread(target=run, daemon=True).start()

# ---- estimates (from the measurements: every figure here is an estimate)
COND_ENCODES_CLIP = {'easyanimate', 'wan-flf2v'}   # conditioning encodes a whole clip (start frame, end frame, the rest masked); others one frame

def _vae_at(rows, F, op, chunk):
    "Seconds and peak of a VAE op at F frames from two measured counts: time a + b·F; memory that of `chunk` frames (None: F), interpolated."
    ok = sorted((int(k), v) for k, v in rows.items() if 'error' not in v)
    if not ok or (len(ok) == 1 and F > ok[0][0]): return None, None      # one frame count cannot be extrapolated
    (Fa, a), (Fb, b_) = ok[0], ok[-1]
    slope = lambda key: (b_[key] - a[key]) / (Fb - Fa) if Fb != Fa else 0.
    C = F if chunk is None else min(chunk, F)
    s = a[f'{op}_s'] + slope(f'{op}_s') * (F - Fa)
    m = max(a[f'{op}_peak'], b_[f'{op}_peak']) if C <= Fb else a[f'{op}_peak'] + slope(f'{op}_peak') * (C - Fa)
    return max(s, 0.), max(m, 0.)

def network_at(meas, kind, tokens):
    "One full-depth network call with CFG at `tokens` video tokens: seconds and peak activation bytes, unguided, guided, and guided with checkpointing."
    net, (L, kept) = meas['network'], meas['layers'].get('transformer', (1, 1))
    lin, dN = tokens / net['tokens'], tokens - net['tokens']
    u, g = net['unguided'], net['guided']
    gx = 2 / g.get('batch', 2)                                 # a guided call measured without the CFG pair counts twice
    if 'block_fwd_s' not in u:                                 # SVD's UNet, measured whole: linear in the frames
        return dict(unguided=dict(s=u['s'] * lin, peak=u['peak'] * lin), guided=dict(s=g['s'] * lin * gx, peak=g['peak'] * lin * gx),
                    guided_ckpt=None)           # the UNet's checkpointing is not modelled
    def block_at(block_s, selfs):
        "A block's seconds at the target length: self-attention quadratic in its sequence length, the rest linear in the tokens."
        self_s = sum(s for s, n in selfs)
        return sum(s * ((n + dN) / n) ** 2 for s, n in selfs) + (block_s - self_s) * lin
    ub = block_at(u['block_fwd_s'], u.get('self_attn', []))
    gblock = g['block_fwd_s'] + g['bwd_s'] - (g['fwd_s'] - g['block_fwd_s'])    # the backward outside the blocks taken equal to its forward
    gb = block_at(gblock, g.get('self_attn', []))
    gs = ((g['s'] - gblock * kept) * lin + L * gb) * gx
    grow = lambda per_block: (g['peak'] + (L - kept) * per_block) * lin * gx
    return dict(unguided=dict(s=(u['s'] - u['block_fwd_s'] * kept) * lin + L * ub, peak=u['peak'] * lin),
                guided=dict(s=gs, peak=grow(g['block_held'])),
                guided_ckpt=dict(s=gs + L * ub, peak=grow(g['block_input_bytes'])))   # checkpointing recomputes each block's forward once

def stage_estimates(meas, kind):
    "Seconds per output frame and peak memory (bytes, bf16 where measured in fp32) of a whole Stage I and Stage II, per memory setting."
    from dataclasses import replace
    from dreamjourney.guidance import GuidanceSettings
    t = meas['true']
    half = 0.5 if meas['dtype'] == 'float32' else 1.0             # bf16 activations from a float32 measurement: an estimate
    w = meas['weights_bf16']
    enc = {c: dict(s=e['s'] * (meas['layers'].get(c, (1, 1))[0] / meas['layers'].get(c, (1, 1))[1]), peak=e['peak'] * half)
           for c, e in meas['network']['encoders'].items()}
    g = GuidanceSettings(**t['guidance'])
    gd = replace(g, mode='dps')
    n_grad = sum(1 + (gd.renoise_rounds if gd.renoised(i) else 0) for i in range(gd.guided_steps()))
    out = {}
    for stage, frames, sampled in (('I', t['stage1_frames'], t['stage1_sampled']), ('II', t['stage2_frames'], t['stage2_frames'])):
        if not frames: continue
        net = network_at(meas, kind, meas['tokens_at'][str(sampled)])
        vae = {}
        for tiling in ('untiled', 'tiled'):
            rows = meas['vae'].get(tiling)
            if not rows: continue
            e_s, e_m = _vae_at(rows, sampled, 'encode', VAE_CHUNK_FRAMES[kind, 'encode'])
            c_s, c_m = _vae_at(rows, sampled if kind in COND_ENCODES_CLIP else 1, 'encode', VAE_CHUNK_FRAMES[kind, 'encode'])
            d_s, d_m = _vae_at(rows, sampled, 'decode', VAE_CHUNK_FRAMES[kind, 'decode'])
            if e_s is None: continue
            encodes = (e_s if stage == 'I' else 0.) + c_s          # Stage I encodes the prior video; both encode their conditioning
            vae[tiling] = dict(s=encodes + d_s, encode_peak=max(e_m if stage == 'I' else 0., c_m) * half, decode_peak=d_m * half)
        fixed = sum(e['s'] for e in enc.values())
        if stage == 'I':
            modes = dict(authors=(g.expected_nfe() * net['unguided']['s'], net['unguided']['peak']),
                         dps=(n_grad * net['guided']['s'] + (gd.expected_nfe() - n_grad) * net['unguided']['s'], net['guided']['peak']))
            if net['guided_ckpt']:
                modes['dps_ckpt'] = (n_grad * net['guided_ckpt']['s'] + (gd.expected_nfe() - n_grad) * net['unguided']['s'], net['guided_ckpt']['peak'])
        else: modes = dict(authors=(t['stage2_steps'] * net['unguided']['s'], net['unguided']['peak']))
        res = {}
        for mode, (den_s, den_m) in modes.items():
            for tiling, v in vae.items():
                phases = [(w[c], e['peak']) for c, e in enc.items()] + [(w['vae'], v['encode_peak']), (w['denoiser'], den_m * half),
                                                                         (w['vae'], v['decode_peak'])]
                res[mode, tiling] = dict(s_per_frame=(fixed + v['s'] + den_s) / frames,
                                         resident=sum(w.values()) + max(a for _, a in phases), offload=max(wt + a for wt, a in phases))
        out[stage] = dict(frames=frames, sampled=sampled, network=net, settings=res, nfe=g.expected_nfe() if stage == 'I' else t['stage2_steps'])
    return out

SETTINGS = [('resident', 'untiled'), ('resident', 'tiled'), ('offload', 'untiled'), ('offload', 'tiled')]

def fits(est, mode, card):
    "The first memory setting (resident before offload, untiled before tiled) whose estimated peak fits the card in every stage, or None."
    for where, tiling in SETTINGS:
        peaks = [st['settings'][m, tiling][where] for st in est.values() for m in ([mode] if (mode, tiling) in st['settings'] else ['authors'])
                 if (m, tiling) in st['settings']]
        if peaks and max(peaks) <= (card - 1) * GiB: return f"{where}{', tiled VAE' if tiling == 'tiled' else ''}"
    return None

# ---- the tables
NAMES = {'cogvideox-i2v': 'CogVideoX-5b-I2V', 'easyanimate': 'EasyAnimateV5.1-7b InP', 'svd': 'SVD-xt', 'wan-flf2v': 'Wan2.1-FLF2V-14B'}

def _g(b): return f'{b / GiB:.2f}'
def _t(s): return f'{s:.0f}' if s >= 100 else f'{s:.1f}' if s >= 1 else f'{s:.2f}'

def tables(results):
    "Markdown: the measurements, then the estimates, for every device measured."
    md = []
    for dev, kinds in results.items():
        if not kinds: continue
        any_ = next(iter(kinds.values()))
        md += [f"## {dev}: {any_['machine']}", '',
               f"Measured {', '.join(sorted({k['date'] for k in kinds.values()}))}; torch {any_['torch']}, {any_['threads']} threads. "
               f"Peaks are above what was allocated before (weights and inputs excluded): {'CUDA max allocated' if dev.startswith('cuda') else 'peak RSS'}.", '',
               '### Measured: the denoiser, one network call with classifier-free guidance (a batch of 2), step 0', '',
               '| backend | measured at | layers: real (kept) | unguided: s (kept block s), peak GiB | guided fwd+bwd: s (fwd, bwd), peak GiB | kept block: held after fwd, input GiB | finite |',
               '|---|---|---|---|---|---|---|']
        for kind, m in kinds.items():
            n, t = m['network'], m['true']
            u, g = n['unguided'], n['guided']
            L = m['layers'].get('transformer', (1, 1))
            kept = f" ({_t(u['block_fwd_s'])})" if 'block_fwd_s' in u else ''
            md.append(f"| {NAMES[kind]} | {n['frames']} frames of {t['height']}×{t['width']}, {n['tokens']} video tokens "
                      f"(true: {t['stage1_sampled']} frames, {m['tokens_at'][str(t['stage1_sampled'])]}) | {L[0]} ({L[1]}){'' if 'block_fwd_s' in u else ', the UNet whole'} | "
                      f"{_t(u['s'])}{kept}, {_g(u['peak'])} | "
                      f"{_t(g['s'])} ({_t(g['fwd_s'])}, {_t(g['bwd_s'])}), {_g(g['peak'])} | "
                      + (f"{_g(g['block_held'])}, {_g(g['block_input_bytes'])}" if 'block_held' in g else '—') + f" | {u['finite'] and g['finite']} |")
        md += ['', '### Measured: text and image encoders (one layer each, while conditioning: prompt and negative prompt) and the whole VAE', '',
               '| backend | text encoder: s, peak GiB | image encoder: s, peak GiB | VAE untiled, frames: encode s / GiB, decode s / GiB | VAE tiled, the same |',
               '|---|---|---|---|---|']
        for kind, m in kinds.items():
            e = m['network']['encoders']
            cell = lambda c: f"{_t(e[c]['s'])}, {_g(e[c]['peak'])}" if c in e else '—'
            def vcell(tiling):
                rows = m['vae'].get(tiling)
                if not rows: return 'not measured'
                return '; '.join(f"{F}: {r['error']}" if 'error' in r else
                                 f"{F}: {_t(r['encode_s'])} / {_g(r['encode_peak'])}, {_t(r['decode_s'])} / {_g(r['decode_peak'])}" for F, r in rows.items())
            md.append(f"| {NAMES[kind]} | {cell('text_encoder')} | {cell('image_encoder')} | {vcell('untiled')} | {vcell('tiled')} |")
        md += ['', '### Estimates at the true shapes and the full depth (ESTIMATES: extrapolated, see the script\'s docstring)', '',
               'Seconds per output frame on this device; peak memory in bf16 (GiB): exact weights plus estimated activations; the '
               "authors' Stage I schedule (jacobian-free guidance, 645 network calls) and `dps` (Eq. 11 through the network), without and with gradient checkpointing.", '',
               '| backend | network call at the true shape: unguided / guided s | Stage I s per output frame: authors / dps | Stage II s per output frame | '
               'Stage I peak GiB, resident: untiled / tiled VAE | Stage I peak, model offload, tiled VAE (untiled where it has no tiling): authors / dps / dps + checkpointing | Stage II peak: resident / offload, the same VAE | '
               + ' | '.join(f'{c} GB (authors; dps)' for c in CARDS) + ' |', '|' + '---|' * (7 + len(CARDS))]
        for kind, m in kinds.items():
            est = stage_estimates(m, kind)         # from the measurements, with this version's extrapolation
            I, II = est['I'], est.get('II')
            st = lambda stg, mode, tiling, where: _g(stg['settings'][mode, tiling][where]) if (mode, tiling) in stg['settings'] else '—'
            net = I['network']
            cards = []
            for c in CARDS:
                a = fits(est, 'authors', c); d = fits(est, 'dps_ckpt', c) if ('dps_ckpt', 'tiled') in I['settings'] else fits(est, 'dps', c)
                cards.append(f"{a or 'no'}; {d or 'no'}")
            def spf(stg, mode):
                "Seconds per output frame, with the tiled VAE where it was measured, else untiled."
                r = stg['settings'].get((mode, 'tiled')) or stg['settings'].get((mode, 'untiled')) if stg else None
                return _t(r['s_per_frame']) if r else '—'
            vt = 'tiled' if ('authors', 'tiled') in I['settings'] else 'untiled'   # the VAE as a journey runs it: tiled where it can be
            md.append(f"| {NAMES[kind]} | {_t(net['unguided']['s'])} / {_t(net['guided']['s'])} | {spf(I, 'authors')} / {spf(I, 'dps')} | "
                      f"{spf(II, 'authors') if II else 'no Stage II'} | "
                      f"{st(I, 'authors', 'untiled', 'resident')} / {st(I, 'authors', 'tiled', 'resident')} | "
                      f"{st(I, 'authors', vt, 'offload')} / {st(I, 'dps', vt, 'offload')} / {st(I, 'dps_ckpt', vt, 'offload')} | "
                      f"{(st(II, 'authors', vt, 'resident') + ' / ' + st(II, 'authors', vt, 'offload')) if II else '—'} | " + ' | '.join(cards) + ' |')
        md.append('')
    return '\n'.join(md)

def table_for_06(results):
    "The compact table that goes beside 06's weight table: activations at the true shapes and what fits, per checkpoint (estimates)."
    dev = next((d for d in results if d.startswith('cuda')), next(iter(results), None))
    if dev is None: return ''
    rows = ['| checkpoint | activations of one network call at the true shape, bf16: unguided / `dps` / `dps` + checkpointing | '
            'VAE at the true length, bf16: encode / decode peak, untiled; tiled | Stage I peak, resident / model offload (tiled VAE where it has tiling) | '
            + ' | '.join(f'{c} GB: authors; `dps`' for c in CARDS) + ' |', '|' + '---|' * (4 + len(CARDS))]
    for kind, m in results[dev].items():
        est = stage_estimates(m, kind)
        I = est['I']
        net = I['network']
        half = 0.5 if m['dtype'] == 'float32' else 1.0
        act = ' / '.join(_g(net[k]['peak'] * half) if net.get(k) else '—' for k in ('unguided', 'guided', 'guided_ckpt'))
        vae = []
        for tiling in ('untiled', 'tiled'):
            rows_ = m['vae'].get(tiling) or {}
            e = _vae_at(rows_, I['sampled'], 'encode', VAE_CHUNK_FRAMES[kind, 'encode'])[1] if rows_ else None
            d = _vae_at(rows_, I['sampled'], 'decode', VAE_CHUNK_FRAMES[kind, 'decode'])[1] if rows_ else None
            vae.append('—' if e is None or d is None else f'{_g(e * half)} / {_g(d * half)}')
        tiled = 'tiled' if ('authors', 'tiled') in I['settings'] else 'untiled'
        if ('authors', tiled) not in I['settings']: I['settings']['authors', tiled] = dict(resident=float('nan'), offload=float('nan'))
        cards = [f"{fits(est, 'authors', c) or 'no'}; {(fits(est, 'dps_ckpt', c) if ('dps_ckpt', 'tiled') in I['settings'] else fits(est, 'dps', c)) or 'no'}" for c in CARDS]
        rows.append(f"| `{m['name'] if 'name' in m else NAMES[kind]}` | {act} | {vae[0]}; {vae[1]} | "
                    f"{_g(I['settings']['authors', tiled]['resident'])} / {_g(I['settings']['authors', tiled]['offload'])} | " + ' | '.join(cards) + ' |')
    return '\n'.join(rows)

# ---- running
def measure(kind, a, tmp, before=None):
    "The measurements of one backend (the parts not asked for are kept from `before`, the saved results)."
    import torch, diffusers, platform
    from dreamjourney.real_shapes import REAL_SHAPE_KINDS
    from dreamjourney.memory import model_memory
    cuda = a.device.startswith('cuda')
    dtype = getattr(torch, a.dtype)
    t0 = time.perf_counter()
    _RUNNING[0] = f'{kind}: building'
    b = build(kind, 'narrow', a.device, dtype, a.smoke, tmp)
    b.pipe.set_progress_bar_config(disable=True)
    t = true_shape(b, kind, a.smoke)
    H, W = t['height'], t['width']
    print(f'[{NAMES[kind]}] built in {time.perf_counter() - t0:.0f} s; true shape {t["stage1_sampled"]} + {t["stage2_frames"]} frames of {H}×{W}', flush=True)
    F = t['stage1_sampled'] if a.frames == 'true' else min(DENOISER_FRAMES_CPU[kind], t['stage1_sampled'])
    mm = model_memory(REAL_SHAPE_KINDS[kind])
    weights = {('denoiser' if c in ('transformer', 'unet') else c): v['bytes']['bf16'] for c, v in mm.items()}
    meas = dict(kind=kind, device=a.device, dtype=a.dtype, date=time.strftime('%Y-%m-%d'), torch=torch.__version__, diffusers=diffusers.__version__,
                threads=torch.get_num_threads(), machine=(torch.cuda.get_device_name() if cuda else f'{platform.processor() or platform.machine()}, '
                                                                                               f'{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}'),
                true={**{k: v for k, v in t.items() if k != 'guidance'}, 'guidance': t['guidance'].__dict__},
                layers=layer_counts(kind) if not a.smoke else {}, weights_bf16=weights,
                tokens_at={str(n): video_tokens(b, n, H, W) for n in (t['stage1_sampled'], t['stage2_frames'], F) if n})
    if a.smoke: meas['layers'] = {'transformer': (2, 1)} if blocks_of(b.denoiser) else {}
    parts = a.parts.split(',')
    if 'network' not in parts:
        if not before or 'network' not in before: raise SystemExit(f'--parts {a.parts}: no saved network measurement of {kind} to keep')
        meas['network'] = before['network']
    else:
        _RUNNING[0] = f'{kind}: network at {F} frames'
        meas['network'] = measure_network(b, kind, F, H, W, a.device)
    n = meas['network']
    print(f'  network, {F} frames ({n["tokens"]} tokens): unguided {n["unguided"]["s"]:.1f} s {n["unguided"]["peak"]/GiB:.2f} GiB; '
          f'guided {n["guided"]["s"]:.1f} s {n["guided"]["peak"]/GiB:.2f} GiB; encoders ' +
          ', '.join(f'{c} {e["s"]:.1f} s' for c, e in n['encoders'].items()), flush=True)
    vf = (1, t['stage1_sampled']) if a.frames == 'true' else a.vae_frames or VAE_FRAMES_CPU.get(kind, (1, 5))
    del b; gc.collect()
    if 'vae' in parts: meas['vae'] = measure_vae(kind, H, W, vf, a, tmp)
    elif before and 'vae' in before: meas['vae'] = before['vae']
    else: raise SystemExit(f'--parts {a.parts}: no saved VAE measurement of {kind} to keep')
    meas['seconds'] = time.perf_counter() - t0
    return meas

def _jsonable(o):
    if isinstance(o, dict): return {(', '.join(k) if isinstance(k, tuple) else str(k)): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [_jsonable(v) for v in o]
    return o

def _from_json(o):
    "Estimates' (mode, tiling) keys back to tuples."
    if isinstance(o, dict): return {(tuple(k.split(', ')) if k.count(', ') == 1 and k.split(', ')[1] in ('tiled', 'untiled') else k): _from_json(v) for k, v in o.items()}
    if isinstance(o, list): return [_from_json(v) for v in o]
    return o

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--kinds', default='cogvideox-i2v,easyanimate,svd,wan-flf2v', help='comma-separated backends')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    p.add_argument('--dtype', default=None, help='float32 (CPU default) or bfloat16 (GPU default)')
    p.add_argument('--frames', choices=['cpu', 'true'], default=None, help="'true': the true frame counts (GPU default); 'cpu': fewer, extrapolated")
    p.add_argument('--vae-frames', type=lambda s: tuple(int(x) for x in s.split(',')), default=None, help='two frame counts for the VAE (CPU: 1,9; SVD 1,8)')
    p.add_argument('--untiled-only', action='store_true', help='measure the VAE untiled only')
    p.add_argument('--parts', default='network,vae', help="what to measure: network (denoiser and encoders), vae; the other part is kept from the saved results")
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    p.add_argument('--max-rss-gb', type=float, default=14., help='stop if the resident memory passes this (shared machine)')
    p.add_argument('--results', default=str(ROOT/'results'/'real_shapes.json'), help='measurements (JSON, merged per device and backend)')
    p.add_argument('--table', action='store_true', help='only render the table from the saved measurements')
    p.add_argument('--for-06', action='store_true', help="print only the compact table for 06_video_models' memory section")
    p.add_argument('--smoke', action='store_true', help='tiny checkpoints at 64², results in a temporary file: checks the code path')
    p.add_argument('--vae-child', help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.vae_child: return vae_child(json.loads(a.vae_child))
    cuda = a.device.startswith('cuda')
    a.dtype = a.dtype or ('bfloat16' if cuda else 'float32')
    a.frames = a.frames or ('true' if cuda else 'cpu')
    tmp = tempfile.mkdtemp(prefix='dj_real_shapes_')
    if a.smoke: a.results = str(Path(tmp)/'real_shapes.json')
    res_path = Path(a.results)
    results = _from_json(json.loads(res_path.read_text())) if res_path.exists() else {}
    if not (a.table or a.for_06):
        quiet()
        import torch
        torch.set_num_threads(a.threads)
        if not cuda: watchdog(int(a.max_rss_gb * GiB))
        dev = f"{a.device.split(':')[0]}-{a.dtype}"
        for kind in [k for k in a.kinds.split(',') if k]:
            results.setdefault(dev, {})[kind] = measure(kind, a, tmp, results.get(dev, {}).get(kind))
            res_path.parent.mkdir(parents=True, exist_ok=True)
            res_path.write_text(json.dumps(_jsonable(results), indent=1))
            results = _from_json(json.loads(res_path.read_text()))
    if a.for_06: return print(table_for_06(results))
    md = ('# The real video checkpoints at their true shapes: measured per layer, extrapolated to the full models\n\n'
          'Made by `benchmarks/real_shapes.py` (see its docstring for what is measured and how it is extrapolated). '
          'Every figure past the measured tables is an **estimate**.\n\n' + tables(results))
    md += '\n## For 06_video_models: beside the weight table (estimates)\n\n' + table_for_06(results) + '\n'
    if not a.smoke: (ROOT/'results'/'real_shapes.md').write_text(md)
    print(md)

if __name__ == '__main__': main()
