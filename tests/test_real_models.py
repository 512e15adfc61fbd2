"""The README's GPU command, run on the CPU with tiny random-weight checkpoints of the real architectures (`dreamjourney tiny`):
for each video backend, `dreamjourney run` at the backend's default frame counts with tiny DPT depth, tiny SD inpainting and a
loopback chat server as the director; the process is killed (SIGKILL) as its second stage starts, `dreamjourney resume` finishes
the journey, and the video, the frames and journey.json are checked. Only the guidance schedule is shortened (3 steps, no
renoising) to keep the suite fast; frame counts, sizes (where native sizes are small) and CFG settings are the defaults."""
import json, os, signal, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

from dreamjourney.cli import main
from dreamjourney.testing import write_tiny_checkpoints
from dreamjourney.testing import FakeChatServer, canned_reply
from dreamjourney.gaussian_prior import landscape_image

# backend kind → (extra options, expected Stage I frames, Stage II frames, Stage I CFG, Stage II CFG (the defaults), size)
CASES = {
    'easyanimate':   (['--size', '64'], 41, 49, 7.0, 8.5, 64),       # the authors' settings (their model); 41 + 2·4 = 49 = 4·12 + 1
    'cogvideox-i2v': ([], 41, 49, 6.0, 6.0, [64, 96]),               # native size, 2:3 as the real 480×720 (learned positional embeddings); 49 = 8·6 + 1
    'svd':           (['--size', '64'], 17, 25, 3.0, 3.0, 64),       # native 25 frames: 17 + 2·4 = 25
    'wan-flf2v':     (['--size', '48', '64'], 49, 0, 5.0, 5.0, [48, 64]),   # native 81: 49 + 8 = 57; first-last-frame: no Stage II; non-square
}
FAST = ['--guidance-steps', '3', '--guidance-renoise-rounds', '0', '--stage2-steps', '3']

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return write_tiny_checkpoints(tmp_path_factory.mktemp('tiny'))

def _kill_at_second_stage(args, env):
    "Run the CLI in a process that SIGKILLs itself when its second stage starts (after the first one is committed)."
    code = ("import os, signal, sys\nimport dreamjourney.journey as J\ncalls = []\n"
            "def hook(real):\n    def f(*a, **k):\n        calls.append(1)\n"
            "        if len(calls) == 2: os.kill(os.getpid(), signal.SIGKILL)\n        return real(*a, **k)\n    return f\n"
            "J.stage_one, J.stage_two = hook(J.stage_one), hook(J.stage_two)\n"
            f"from dreamjourney.cli import main\nsys.exit(main({args!r}))\n")
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True)

@pytest.mark.parametrize('kind', list(CASES))
def test_cli_journey_with_tiny_checkpoints(kind, tiny, tmp_path, monkeypatch):
    extra, f1, f2, cfg1, cfg2, size = CASES[kind]
    Image.fromarray(landscape_image(96, 128, seed=1)).save(tmp_path/'photo.png')
    out = tmp_path/'journey'
    segments = 2 if f2 == 0 else 1
    with FakeChatServer(default=canned_reply) as server:
        args = ['run', str(tmp_path/'photo.png'), '--out', str(out), '--backend', str(tiny[kind]), '--depth-model', str(tiny['dpt']),
                '--inpainter', str(tiny['sd-inpainting']), '--director', 'tiny-mllm', '--director-base-url', server.base_url,
                '--segments', str(segments), '--device', 'cpu', *extra, *FAST]
        env = {**os.environ, 'OPENAI_API_KEY': 'test-key', 'OMP_NUM_THREADS': '1'}
        p = _kill_at_second_stage(args, env)
        assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
        st = json.loads((out/'journey.json').read_text())
        assert st['stages_written'] == 1 and st['status'] == 'running'
        s = st['settings']
        assert (s['frames'], s['motion_frames'], s['size']) == (f1, f2, size)   # resolved from the backend, recorded
        assert (s['dtype'], s['offload'], s['stage1_cfg'], s['stage2_cfg'], s['stage2_steps']) == ('float32', 'none', cfg1, cfg2, 3)
        assert s['guidance']['steps'] == 3 and s['stage1_negative_prompt'] and s['stage2_negative_prompt']
        monkeypatch.setenv('OPENAI_API_KEY', 'test-key')
        assert main(['resume', str(out), '--device', 'cpu', '--base-url', server.base_url]) == 0
        assert len(server.requests) >= 2   # the director was asked (scene description, motion prompt or second scene)
    st = json.loads((out/'journey.json').read_text())
    n = 1 + segments*(f1 - 1) + (f2 - 1 if f2 else 0)
    assert st['status'] == 'done' and st['frames_written'] == n and st['stages_written'] == 2
    import mediapy
    from dreamjourney.gaussian_prior import use_bundled_ffmpeg
    use_bundled_ffmpeg()
    video = mediapy.read_video(out/'journey.mp4')
    H, W = (size, size) if isinstance(size, int) else size
    assert video.shape == (n, H, W, 3)
    assert np.isfinite(video).all() and video.std() > 0

def test_refusals_create_no_folder(tiny, tmp_path, capsys):
    "A frame count, size or dtype the model cannot take is refused with the nearest valid values, before any folder exists."
    Image.fromarray(landscape_image(64, 64, seed=1)).save(tmp_path/'photo.png')
    base = ['run', str(tmp_path/'photo.png'), '--backend', str(tiny['easyanimate']), '--device', 'cpu']
    cases = [(['--frames', '48'], 'nearest valid --frames: 45 or 49'),           # 48 + 8 = 56: 4k+1 needs 53 or 57
             (['--size', '60'], 'nearest: height 48 or 64'),
             (['--motion-frames', '48'], 'nearest valid: 45 or 49'),
             (['--dtype', 'float8'], 'dtype must be one of float32, float16, bfloat16'),
             (['--offload', 'model'], 'use --offload none, or a GPU device')]
    for opts, msg in cases:
        out = tmp_path/'refused'
        rc, err = main([*base, '--out', str(out), *opts]), capsys.readouterr().err
        assert rc == 2 and msg in err, (opts, rc, err[-2000:])
        assert not out.exists(), opts

def test_bfloat16_on_cpu(tiny, tmp_path):
    "`--dtype bfloat16` runs a tiny backend on the CPU (every model loads in bfloat16; the sampler's arithmetic stays float32)."
    Image.fromarray(landscape_image(64, 64, seed=1)).save(tmp_path/'photo.png')
    out = tmp_path/'bf16'
    assert main(['run', str(tmp_path/'photo.png'), '--out', str(out), '--backend', str(tiny['cogvideox-i2v']), '--depth-model', str(tiny['dpt']),
                 '--dtype', 'bfloat16', '--segments', '1', '--frames', '9', '--motion-frames', '9', '--device', 'cpu', *FAST]) == 0
    st = json.loads((out/'journey.json').read_text())
    assert st['settings']['dtype'] == 'bfloat16' and st['frames_written'] == 1 + 8 + 8

def test_resume_overrides(tmp_path):
    "resume may change precision and memory settings (recorded in journey.json), and refuses settings that would change finished stages."
    out = tmp_path/'demo'
    assert main(['demo', '--out', str(out), '--segments', '1', '--size', '32', '--frames', '6', '--motion-frames', '4', '--guidance-steps', '4']) == 0
    before = (out/'journey.json').read_bytes()
    assert main(['resume', str(out), '--frames', '9']) == 2                 # changes what finished stages made: refused, nothing written
    assert main(['resume', str(out), '--guidance-steps', '9']) == 2
    assert (out/'journey.json').read_bytes() == before
    assert main(['resume', str(out), '--vae-slicing', 'true', '--device', 'cpu']) == 0
    st = json.loads((out/'journey.json').read_text())
    assert st['settings']['vae_slicing'] is True and st['resumed_with'] == [{'vae_slicing': True}]
