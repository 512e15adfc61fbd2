"""Slow: a one-step journey (Stage I and, where the model has one, Stage II) through each real-shape checkpoint
(`dreamjourney.real_shapes`: the real configuration with every repeated block cut to one, random weights, the real scheduler) on
the CPU, at the model's true spatial size. Skipped unless DREAMJOURNEY_TEST_FLAGS contains `slow` (the switch of
tests/test_notebooks.py):

    DREAMJOURNEY_TEST_FLAGS=slow flock /tmp/heavy.lock nice -n 5 pytest -q tests/test_real_shapes.py -k cogvideox

What is real and what is not: the transformer (or SVD's whole UNet), the text and image encoders and the sampler see exactly the
real shapes; the VAE is narrowed (`--vae narrow`: fewer channels per block, the real latent channels and compression), because the
real VAE at full width takes minutes per frame on a CPU (benchmarks/real_shapes.py measures it); the authors' Stage I schedule is
cut to two guidance steps with no renoising, Stage II to two steps; depth is the tiny DPT (any size: its processor resizes to 32²),
inpainting the tiny pipeline with SD-2's 8× VAE (`tiny_inpaint_pipeline_8x`: the 2× tiny one takes more than 15 minutes per fill at
480×720). Where the true frame count cannot run in about 10 minutes on 2 cores, the test runs fewer frames at the true size and
its name says so (`fewer_frames`); the docs of nbs/91_real_shapes.ipynb give the measured times.

The memory settings are the defaults (VAE tiling and slicing on for every real video model, where its VAE has them). Each test
checks the exit status, the frame count and size of journey.mp4 against the settings journey.json records, that the frames are
finite and not constant, the network calls each stage records (two guided steps of jacobian-free guidance with re-evaluation:
4 calls; Stage II: 2), and each stage's ledger: its seconds per output frame and its peak memory, under 24 GiB (the process's
resident high-water mark during the stage on the CPU, the models' weights included)."""
import json, os, shutil, tempfile, time
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.skipif('slow' not in os.environ.get('DREAMJOURNEY_TEST_FLAGS', '').split(),
                                reason='slow (minutes each): set DREAMJOURNEY_TEST_FLAGS=slow')

FAST = ['--guidance-steps', '2', '--guidance-renoise-rounds', '0', '--stage2-steps', '2']

@pytest.fixture(scope='module')
def helpers():
    "The tiny DPT depth model and the 8× tiny inpainter, written once for the module."
    from dreamjourney.testing import write_tiny_checkpoints
    from dreamjourney.real_shapes import write_real_shape_checkpoints
    d = Path(tempfile.mkdtemp(prefix='dj_real_shapes_'))
    out = {**write_tiny_checkpoints(d, ['dpt']), **write_real_shape_checkpoints(d, ['sd-inpainting-8x'], progress=False)}
    yield out
    shutil.rmtree(d, ignore_errors=True)

def journey(kind, helpers, frames, motion_frames, extra=()):
    "Write the real-shape checkpoint (narrow VAE), run a one-step journey through the CLI, check it; return journey.json and timings."
    import mediapy
    from dreamjourney.cli import main
    from dreamjourney.real_shapes import write_real_shape_checkpoint
    from dreamjourney.gaussian_prior import landscape_image, use_bundled_ffmpeg
    from dreamjourney.run_format import read_run
    with tempfile.TemporaryDirectory(prefix=f'dj_{kind}_') as d:
        d = Path(d)
        t0 = time.perf_counter()
        ckpt = write_real_shape_checkpoint(kind, d/kind, vae='narrow')
        t_write = time.perf_counter() - t0
        Image.fromarray(landscape_image(480, 640, seed=3)).save(d/'photo.png')
        out = d/'journey'
        args = ['run', d/'photo.png', '--out', out, '--backend', ckpt, '--depth-model', helpers['dpt'], '--inpainter', helpers['sd-inpainting-8x'],
                '--segments', '1', '--device', 'cpu', '--frames', frames, '--motion-frames', motion_frames, *FAST, *extra]
        t0 = time.perf_counter()
        assert main(args) == 0
        t_run = time.perf_counter() - t0
        run = read_run(out)
        st, stages = run.state, run.stages
        use_bundled_ffmpeg()
        video = mediapy.read_video(out/'journey.mp4')
    s = st['settings']
    H, W = (s['size'], s['size']) if isinstance(s['size'], int) else s['size']
    assert (s['frames'], s['motion_frames']) == (frames, motion_frames)
    n = 1 + (frames - 1) + (motion_frames - 1 if motion_frames else 0)
    assert st['status'] == 'done' and st['frames_written'] == n
    assert video.shape == (n, H, W, 3)
    assert np.isfinite(video).all() and video.std() > 0
    assert [r['nfe'] for r in stages] == [4] + ([2] if motion_frames else [])
    assert (s['vae_tiling'], s['vae_slicing'], s['offload']) == (True, True, 'none')   # the defaults of a real model on the CPU
    for r in stages: assert 0 < r['peak_memory_gib'] < 24 and r['seconds_per_frame'] > 0, r
    print(f"\n{kind}: {n} frames of {H}×{W}; checkpoint written in {t_write:.0f} s, journey {t_run:.0f} s; per stage: "
          + '; '.join(f"{r['kind']} {r['num_frames']} frames, {r['seconds_per_frame']:.1f} s per frame, peak {r['peak_memory_gib']:.2f} GiB "
                      f"({r['peak_memory_measure']}), seconds " + ', '.join(f'{k} {v:.0f}' for k, v in r['seconds'].items()) for r in stages))
    return st, (H, W)

# True Stage I / Stage II frames (journey defaults): CogVideoX 41 / 49, EasyAnimate 41 / 49, SVD 17 / 25, Wan 49 / none (first-last-frame).
# One unguided network call with CFG of the one-layer model on 2 cores (benchmarks/real_shapes.py): CogVideoX 44 s at 17 sampled
# frames, 155 s (extrapolated) at 49; EasyAnimate 31 s at 17, ≈ 95 s at 49. A journey step makes 6 such calls (4 in Stage I, 2 in Stage II).

def test_cogvideox_480x720_fewer_frames(helpers):
    "CogVideoX-5b-I2V at 480×720 (its learned positional embeddings allow no other size): Stage I 17 frames (25 sampled), Stage II 25, not 41 and 49."
    journey('cogvideox-i2v', helpers, 17, 25)

def test_easyanimate_512x512_fewer_frames(helpers):
    "EasyAnimateV5.1-7b InP at 512²: Stage I 25 frames (33 sampled), Stage II 33, not 41 and 49."
    journey('easyanimate', helpers, 25, 33)

def test_svd_576x1024_fewer_frames_no_padding(helpers):
    "SVD-xt's whole UNet at 576×1024: Stage I 3 frames and no view padding, Stage II 2 frames, not 17 (+ 2·4) and 25. One call costs ≈ 27 s per frame and CFG half."
    journey('svd', helpers, 3, 2, ['--guidance-pad', '0'])

def test_wan_720x1280_fewer_frames_no_padding(helpers):
    "Wan2.1-FLF2V-14B at 720×1280: Stage I 5 frames (2 latent frames, 7,200 tokens) and no view padding, not 49 (+ 2·4); first-last-frame: no Stage II."
    journey('wan-flf2v', helpers, 5, 0, ['--guidance-pad', '0'])
