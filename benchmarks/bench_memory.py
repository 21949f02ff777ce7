"""What gunicorn's master and an idle worker hold (issue 20: a worker ≤ 80 MiB, a master
that does not load the app), beside the yardstick in the same run: the minimal Flask +
SQLAlchemy app (benchmarks/minimal_app.py) under the same gunicorn settings.

    .venv/bin/python benchmarks/bench_memory.py [--runs 3]

Each run starts gunicorn with 2 workers on a fresh SQLite database, asks /healthz (the
yardstick: its one route, answered 405) a few times so every worker has served, waits a
moment, and reads VmRSS of the master and of each worker from /proc. It prints figures
and never asserts on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_server import free_port  # noqa: E402


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(pid)


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(p) for p in found]


def measure(app: str, path: str, env: dict) -> tuple[float, list[float]]:
    port = free_port()
    environment = os.environ | env | {"PORT": str(port), "WEB_CONCURRENCY": "2"}
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, our own arguments
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config",
            "python:server.gunicorn_conf",
            app,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start") from None
                time.sleep(0.1)
        for _ in range(20):
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)
        time.sleep(1)
        return rss_mib(process.pid), [rss_mib(p) for p in children(process.pid)]
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app_env = {
            "INSTANCE_PATH": folder,
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "ENV": "development",
        }
        subprocess.run(  # noqa: S603 - our own console script
            [str(Path(sys.executable).with_name("grid-report")), "db", "upgrade"],
            cwd=ROOT,
            env=os.environ | app_env,
            check=True,
            capture_output=True,
        )
        minimal_env = {"MINIMAL_DATABASE_URL": f"sqlite:///{folder}/minimal.sqlite3"}
        rows = {"grid-report": [], "minimal": []}
        for _ in range(args.runs):
            rows["grid-report"].append(measure("server:create_app()", "/healthz", app_env))
            rows["minimal"].append(
                measure(
                    "benchmarks.minimal_app:create_app()", "/minimal/reports", app_env | minimal_env
                )
            )
    for name, runs in rows.items():
        masters = [master for master, _ in runs]
        workers = [max(each) for _, each in runs]
        print(
            f"{name:12s} master {statistics.median(masters):6.1f} MiB "
            f"(runs {', '.join(f'{m:.1f}' for m in masters)}); "
            f"largest worker {statistics.median(workers):6.1f} MiB "
            f"(runs {', '.join(f'{w:.1f}' for w in workers)})"
        )
    ours = statistics.median(max(each) for _, each in rows["grid-report"])
    floor = statistics.median(max(each) for _, each in rows["minimal"])
    print(f"worker ratio to the minimal app: {ours / floor:.2f}x (budget: 80 MiB a worker)")


if __name__ == "__main__":
    main()
