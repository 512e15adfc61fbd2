#!/usr/bin/env python
"""Wall time of `preview_path` (Stage I without the video model, `11a_preview`) for the authors' default ten-step path
`[0, 0, 0, 1, 1, 0, 0, 0, -1, -1]` on scikit-image's photograph `astronaut`, with the offline depth model and
inpainter (the CPU demo's settings: 16 frames per step), and the pictures it writes.

    python benchmarks/preview.py                                  # 256², 3 repeats, pictures in benchmarks/results/preview
    python benchmarks/preview.py --out /work/artifacts/paths --docs   # also the small copies shown in nbs/11a_preview.ipynb
    python benchmarks/preview.py --size 512 --repeat 1

Needs scikit-image (in the [dev] extra) for the photograph. Prints, per repeat, the seconds of one `preview_path`
call (components loaded, ten steps, the files written) and their median; the first call also pays for first-touch
allocations. The whole command, interpreter and imports included, is timed by the shell (`time python ...`)."""
import argparse, statistics, time
from pathlib import Path
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, default=256, help='frame size (square) [default: 256]')
    p.add_argument('--repeat', type=int, default=3, help='timed calls [default: 3]')
    p.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'preview'), help='where the preview of the last call is written')
    p.add_argument('--docs', action='store_true', help='also write the small copies nbs/images/preview_astronaut_{sheet.jpg,holes.png}')
    a = p.parse_args()
    import torch
    from skimage import data
    from dreamjourney.settings import JourneySettings, AUTHORS_ROTATION_PATH
    from dreamjourney.preview import preview_path, preview_sheet
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    photo = out/'astronaut.png'
    Image.fromarray(data.astronaut()).save(photo)
    s = JourneySettings.demo(size=a.size)
    print(f"torch threads {torch.get_num_threads()}; {a.size}², {s.frames} frames per step, depth {s.depth_model!r}, inpainter {s.inpainter!r}, "
          f"path {AUTHORS_ROTATION_PATH}")
    times = []
    for i in range(a.repeat):
        t0 = time.perf_counter()
        pv = preview_path(photo, AUTHORS_ROTATION_PATH, out, s, progress=False)
        times.append(time.perf_counter() - t0)
        print(f"call {i + 1}: {times[-1]:.2f} s")
    print(f"median {statistics.median(times):.2f} s over {len(times)} calls ({len(pv.poses)} poses, {len(pv.steps)} steps); files in {out}")
    for st in pv.steps: print(f"  step {st.step} ({st.entry:+d}): {st.summary()}")
    print(f"{len(pv.warnings)} warning(s)" + ''.join(f"\n  {w}" for w in pv.warnings))
    if a.docs:
        im = preview_sheet(pv, columns=6, thumb=48)
        im.save(ROOT/'nbs'/'images'/'preview_astronaut_sheet.jpg', quality=75)
        Image.open(out/'holes.png').save(ROOT/'nbs'/'images'/'preview_astronaut_holes.png', optimize=True)
        print(f"docs copies: {ROOT/'nbs'/'images'/'preview_astronaut_sheet.jpg'} {ROOT/'nbs'/'images'/'preview_astronaut_holes.png'}")

if __name__ == '__main__': main()
