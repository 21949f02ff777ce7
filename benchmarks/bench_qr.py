"""`grid-report export-qr` beside plain qrcode making the same 45 codes (issue 20: within
1.5x).

    .venv/bin/python benchmarks/bench_qr.py [--runs 5]

Both are timed as whole processes, started fresh, in turn (ours, plain, ours, plain, ...)
after one warm-up each, each run writing into an empty folder of its own, on a migrated
SQLite database holding the demo town (45 villages). Plain qrcode makes each village's
code (the URL its poster carries, level M, 10-pixel modules, a 4-module quiet zone) and
writes it as a PNG and an SVG (qrcode's SvgPathImage), as export-qr does; export-qr writes
the posters besides (one a village, and the sheet of all). Wall and CPU (user + system)
seconds come from the clock and from getrusage of the finished child. It prints each
one's medians, the median of the run-by-run ratios, and whether both wrote the very same
codes; it never asserts on the times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# What the other side runs: qrcode as its documentation shows it, one code drawn both ways.
PLAIN = """
import json, sys
from pathlib import Path

import qrcode
import qrcode.image.svg

target = Path(sys.argv[1])
for index, url in enumerate(json.loads(sys.argv[2])):
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    code.make_image().save(target / f"{index}.png")
    svg = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    (target / f"{index}.svg").write_text(svg.to_string(encoding="unicode"), encoding="utf-8")
"""

# The villages' URLs and file names, as the app makes them.
VILLAGES = """
import json
from sqlalchemy import select
from server import create_app
from server.db import db
from server.models import Village
from server.organisation import qr

with create_app().app_context():
    villages = db.session.scalars(
        select(Village).where(Village.active.is_(True)).order_by(Village.code)
    )
    print(json.dumps([[qr.village_url(v), f"{v.code}-{v.name}"] for v in villages]))
"""


def run(command: list[str], env: dict) -> tuple[float, float]:
    """Run `command` to its end: its wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = os.environ | {
            "INSTANCE_PATH": folder,
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "ENV": "development",
        }
        for step in (["db", "upgrade", "--no-backup"], ["seed-demo"]):
            command = [str(BIN / "grid-report"), *step]
            subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
        listed = subprocess.run(  # noqa: S603 - this interpreter, our own code
            [sys.executable, "-c", VILLAGES],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        villages = json.loads(listed.stdout.splitlines()[-1])
        urls = json.dumps([url for url, _ in villages])

        outputs = iter(range(1_000_000))

        def ours() -> tuple[float, float]:
            target = Path(folder, f"ours-{next(outputs)}")
            return run([str(BIN / "grid-report"), "export-qr", str(target)], env)

        def plain() -> tuple[float, float]:
            target = Path(folder, f"plain-{next(outputs)}")
            target.mkdir()
            return run([sys.executable, "-c", PLAIN, str(target), urls], env)

        ours(), plain()  # warm-up: the files the runs read are in the page cache
        rows = {"export-qr": [], "plain qrcode": []}
        for _ in range(args.runs):
            rows["export-qr"].append(ours())
            rows["plain qrcode"].append(plain())

        same = all(
            Path(folder, "ours-0", f"{stem}{suffix}").read_bytes()
            == Path(folder, "plain-1", f"{index}{suffix}").read_bytes()
            for index, (_, stem) in enumerate(villages)
            for suffix in (".png", ".svg")
        )

    print(f"{len(villages)} villages, {args.runs} runs each (after one warm-up), whole processes")
    for name, runs in rows.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(
            f"{name:13s} wall {statistics.median(walls):.3f} s "
            f"(runs {', '.join(f'{w:.2f}' for w in walls)}); "
            f"cpu {statistics.median(cpus):.3f} s"
        )
    pairs = list(zip(rows["export-qr"], rows["plain qrcode"], strict=True))
    wall_ratio = statistics.median(a[0] / b[0] for a, b in pairs)
    cpu_ratio = statistics.median(a[1] / b[1] for a, b in pairs)
    print(f"export-qr / plain qrcode: wall {wall_ratio:.2f}x, cpu {cpu_ratio:.2f}x (goal: 1.5x)")
    print(f"the same codes (each PNG and SVG byte for byte): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
