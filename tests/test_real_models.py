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
LIBRARY_NOISE = ('requires torchvision', '[transformers]', 'Loading weights', 'Loading pipeline components', 'Expected types for',
                 'config attributes', 'Token indices sequence length', 'were passed to', 'is deprecated')   # transformers' and diffusers' warnings and bars

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
        monkeypatch.setenv('OPENAI_API_KEY', 'test-key')
        monkeypatch.setenv('DREAMJOURNEY_CACHE', str(tmp_path/'cache'))   # an empty reply cache, for the run and the resume: the director must be asked
        env = {**os.environ, 'OMP_NUM_THREADS': '1'}
        p = _kill_at_second_stage(args, env)
        assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
        assert f"dreamjourney: loading video model {tiny[kind]}; depth model {tiny['dpt']}; inpainter {tiny['sd-inpainting']}" in p.stderr, p.stderr[-3000:]
        noise = [l for l in p.stderr.splitlines() if any(n in l for n in LIBRARY_NOISE)]   # a quiet run: our progress and our errors only
        assert not noise, noise
        st = json.loads((out/'journey.json').read_text())
        assert st['stages_written'] == 1 and st['status'] == 'running'
        s = st['settings']
        assert (s['frames'], s['motion_frames'], s['size']) == (f1, f2, size)   # resolved from the backend, recorded
        assert (s['dtype'], s['offload'], s['stage1_cfg'], s['stage2_cfg'], s['stage2_steps']) == ('float32', 'none', cfg1, cfg2, 3)
        assert s['guidance']['steps'] == 3 and s['stage1_negative_prompt'] and s['stage2_negative_prompt']
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
    base = ['run', str(tmp_path/'photo.png'), '--backend', str(tiny['easyanimate']), '--depth-model', str(tiny['dpt']),
            '--inpainter', str(tiny['sd-inpainting']), '--device', 'cpu']
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
                 '--inpainter', str(tiny['sd-inpainting']), '--dtype', 'bfloat16', '--segments', '1', '--frames', '9', '--motion-frames', '9', '--device', 'cpu', *FAST]) == 0
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

def test_authors_components_by_default_offline(tiny, tmp_path, capsys):
    "A real video model without --depth-model / --inpainter names MiDaS v3.1 and SD-2 inpainting; with no network and nothing cached it stops before any folder, in one line."
    Image.fromarray(landscape_image(64, 64, seed=1)).save(tmp_path/'photo.png')
    out = tmp_path/'journey'
    rc = main(['run', str(tmp_path/'photo.png'), '--out', str(out), '--backend', str(tiny['easyanimate']), '--device', 'cpu',
               '--cache-dir', str(tmp_path/'empty-cache')])   # HF_HUB_OFFLINE is set (conftest): no network
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists(), err
    assert (f"dreamjourney: loading video model {tiny['easyanimate']}; depth model Intel/dpt-beit-large-512 (MiDaS v3.1 BEiT-L 512, the authors', the default); "
            "inpainter stabilityai/stable-diffusion-2-inpainting (SD-2 inpainting, the authors', the default)") in err, err
    errors = [l for l in err.splitlines() if 'error' in l]
    assert len(errors) == 1 and errors[0].startswith('dreamjourney: error: cannot load depth model Intel/dpt-beit-large-512 and inpainter '), err
    assert 'pass local checkpoints (folders written by save_pretrained) with --depth-model DIR --inpainter DIR' in errors[0], err

def test_out_of_memory_one_line_and_resumable(tiny, tmp_path, capsys, monkeypatch):
    "An allocation failure in Stage II stops the CLI with one line (stage, model, ledger, switches), exit 2; Stage I stays and a resume with a switch finishes."
    from dreamjourney.video_models import DiffusersVideoBackend
    Image.fromarray(landscape_image(64, 64, seed=1)).save(tmp_path/'photo.png')
    out = tmp_path/'journey'
    def allocation_fails(*a, **k): raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 21474836480 bytes. Error code 12 (Cannot allocate memory)")
    monkeypatch.setattr(DiffusersVideoBackend, 'image_to_video', allocation_fails)
    rc = main(['run', str(tmp_path/'photo.png'), '--out', str(out), '--backend', str(tiny['cogvideox-i2v']), '--depth-model', str(tiny['dpt']),
               '--inpainter', str(tiny['sd-inpainting']), '--segments', '1', '--frames', '9', '--motion-frames', '9', '--device', 'cpu', *FAST])
    err = capsys.readouterr().err
    errors = [l for l in err.splitlines() if 'error' in l.lower()]
    assert rc == 2 and len(errors) == 1 and 'Traceback' not in err, err
    assert errors[0].startswith(f"dreamjourney: error: Stage II ran out of memory in its sampling part (video model {tiny['cogvideox-i2v']}) on cpu, at "), errors[0]
    assert f"resume with less memory: dreamjourney resume {out} with any of --dtype bfloat16" in errors[0], errors[0]
    assert json.loads((out/'journey.json').read_text())['stages_written'] == 1   # Stage I is committed
    monkeypatch.undo()
    assert main(['resume', str(out), '--dtype', 'bfloat16', '--device', 'cpu']) == 0
    st = json.loads((out/'journey.json').read_text())
    assert st['status'] == 'done' and st['stages_written'] == 2 and st['resumed_with'] == [{'dtype': 'bfloat16'}]
    recs = [json.loads(l) for l in (out/'stages.jsonl').read_text().splitlines()]
    assert len(recs) == 2 and all(r['peak_memory_gib'] > 0 and r['seconds_per_frame'] > 0 for r in recs)   # the ledger, in the stage records
