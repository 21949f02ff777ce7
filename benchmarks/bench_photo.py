"""One 12-megapixel phone photo through server.cases.media.process_image, beside Pillow's own
draft-mode decode + resize + encode of the same file.

Prints the median time of each, the ratio (goal: ours within 1.3x) and the peak extra
memory of ours, measured in a fresh process (goal: under 50 MB).

    .venv/bin/python benchmarks/bench_photo.py [--runs 15]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from town import status_kb

ROOT = Path(__file__).resolve().parents[1]
SIDE = 1920  # MEDIA_MAX_SIDE's default


def phone_photo() -> bytes:
    """A 4000x3000 JPEG with detail and noise (compresses like a photo, not a flat card)."""
    base = Image.radial_gradient("L").resize((4000, 3000))
    noise = Image.effect_noise((4000, 3000), 64)
    image = Image.merge("RGB", (base, noise, Image.linear_gradient("L").resize((4000, 3000))))
    exif = Image.Exif()
    exif[0x0112] = 1
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def pillow_pipeline(raw: bytes) -> bytes:
    with Image.open(io.BytesIO(raw)) as image:
        fit = SIDE / max(image.size)  # Pillow scales by the tighter side: ask for the box
        image.draft("RGB", (int(image.width * fit), int(image.height * fit)))
        image.thumbnail((SIDE, SIDE))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        return out.getvalue()


def ours(raw: bytes):
    from server.cases.media import process_image

    return process_image(raw, max_pixels=50_000_000, max_side=SIDE)


def timed(function, raw: bytes, runs: int) -> float:
    function(raw)  # warm up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function(raw)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def memory_child(which: str, path: str) -> None:
    """In a fresh process: peak resident memory added by one run of `which` (Linux)."""
    raw = Path(path).read_bytes()
    import server.cases.media  # noqa: F401 - imported before measuring, like in the app

    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to now
    before = status_kb("VmRSS")
    (ours if which == "ours" else pillow_pipeline)(raw)
    peak = status_kb("VmHWM")
    print(json.dumps({"extra_mb": (peak - before) / 1024}))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--memory":
        memory_child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    raw = phone_photo()
    handle, name = tempfile.mkstemp(suffix=".jpg")
    os.close(handle)
    path = Path(name)
    path.write_bytes(raw)
    baseline = timed(pillow_pipeline, raw, args.runs)
    mine = timed(ours, raw, args.runs)
    memory = {}
    for which in ("pillow", "ours"):
        result = subprocess.run(  # noqa: S603 - this script, in a fresh interpreter
            [sys.executable, __file__, "--memory", which, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        memory[which] = json.loads(result.stdout)["extra_mb"]
    path.unlink()

    print(f"photo: 4000x3000 JPEG, {len(raw) / 1e6:.1f} MB, median of {args.runs} runs")
    print(
        f"pillow draft+resize+encode: {baseline * 1000:7.1f} ms   peak +{memory['pillow']:.0f} MB"
    )
    print(
        f"server.cases.media.process_image: {mine * 1000:7.1f} ms   peak +{memory['ours']:.0f} MB"
        "   (also: orientation, metadata stripped, thumbnail)"
    )
    print(f"time ratio: {mine / baseline:.2f}  (goal <= 1.3)   extra memory goal < 50 MB")


if __name__ == "__main__":
    main()
