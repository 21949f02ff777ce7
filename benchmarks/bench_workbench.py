"""The phone workbench's budgets on a rural network, beside the villagers' report page.

Serves the demo town under gunicorn (server/gunicorn_conf.py), opens each page in Debian's
Chromium with Chromium's own network emulation (1.6 Mbit/s down and up, 150 ms round
trip, the cache empty at each run) and prints, as medians over the runs:

- the bytes the first screen transferred (goal for /m/: at most 150 kB);
- how long until it could be used (goal: at most 3 s): the sign-in form, and for a signed-in
  phone 我的待办 with its lists drawn;
- how long 我的案件 takes to open from 我的待办 (goal: at most 1.5 s);
- the same first-screen figures for a village's report page (/q/<token>);
- beside them, the yardstick of the same run: the network's own floor, /healthz (a few
  bytes) opened the same way.

The town: the demo town in a fresh SQLite database; with --cases N, N cases seeded into it
by benchmarks/seed.py (a worker's lists as after years of use); with --database-url, a
database seeded before (`make bench`), served as it is.

    .venv/bin/python benchmarks/bench_workbench.py [--runs 5] [--cases N]
        [--database-url URL]

It prints figures; nothing asserts on them (CI never times).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
RURAL = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 1_600_000 / 8,
}
PASSWORD = "Demo@2026"  # noqa: S105 - the demo town's published password


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path, database_url: str | None = None, cases: int = 0):
    """The town under gunicorn: (process, base URL, a village's QR token). The database
    `database_url` names as it is, or a fresh one with the demo town and `cases` cases."""
    database = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    env = os.environ | {
        "DATABASE_URL": database,
        "INSTANCE_PATH": os.environ.get("INSTANCE_PATH", str(folder)),
        "PYTHONPATH": str(ROOT),
    }
    grid_report = str(Path(sys.executable).with_name("grid-report"))
    if database_url is None and cases:
        seed = [sys.executable, str(ROOT / "benchmarks" / "seed.py"), "--cases", str(cases)]
        subprocess.run([*seed, "--database-url", database], env=env, check=True)  # noqa: S603
    elif database_url is None:
        subprocess.run([grid_report, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
        subprocess.run([grid_report, "seed-demo"], env=env, check=True, capture_output=True)  # noqa: S603
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, our own arguments
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config",
            "python:server.gunicorn_conf",
            "server:create_app()",
        ],
        env=env | {"PORT": str(port), "PUBLIC_BASE_URL": base},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            requests.get(f"{base}/healthz", timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.1)
    token = subprocess.run(
        [
            sys.executable,
            "-c",
            "from server import create_app; from server.db import db;"
            "from server.models import Village; from sqlalchemy import select;\n"
            "app = create_app()\nwith app.app_context():\n"
            "    print(db.session.scalars(select(Village.qr_token)"
            ".order_by(Village.code)).first())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return process, base, token


class Meter:
    """A fresh phone-sized context with the rural network and a byte counter."""

    def __init__(self, browser, base):
        self.context = browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        self.context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith(base) else route.abort()
            ),
        )
        self.page = self.context.new_page()
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("Network.enable")
        self.cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        self.cdp.send("Network.emulateNetworkConditions", RURAL)
        self.bytes = 0
        self.cdp.on("Network.loadingFinished", self._count)

    def _count(self, event):
        self.bytes += int(event.get("encodedDataLength", 0))

    def close(self):
        self.context.close()


def first_screen(browser, base, path, ready, *, token=None) -> tuple[int, float]:
    meter = Meter(browser, base)
    try:
        if token:  # a phone that signed in before: its token is kept on it
            meter.page.goto(f"{base}/healthz")
            meter.page.evaluate(
                "t => { localStorage.setItem('wb.token', t.token);"
                " localStorage.setItem('wb.user', JSON.stringify(t.user)); }",
                token,
            )
            meter.bytes = 0
        start = time.perf_counter()
        meter.page.goto(f"{base}{path}")
        meter.page.wait_for_selector(ready)
        return meter.bytes, time.perf_counter() - start
    finally:
        meter.close()


def open_cases(browser, base, token) -> float:
    meter = Meter(browser, base)
    try:
        meter.page.goto(f"{base}/healthz")
        meter.page.evaluate(
            "t => { localStorage.setItem('wb.token', t.token);"
            " localStorage.setItem('wb.user', JSON.stringify(t.user)); }",
            token,
        )
        meter.page.goto(f"{base}/m/")
        meter.page.wait_for_selector("h1:has-text('我的待办')")
        start = time.perf_counter()
        meter.page.locator("#tabs a", has_text="案件").click()
        meter.page.wait_for_selector("#case-list li")
        return time.perf_counter() - start
    finally:
        meter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--user", default="grid05")
    parser.add_argument("--cases", type=int, default=0, help="seed this many cases first")
    parser.add_argument("--database-url", help="a database seeded before (benchmarks/seed.py)")
    args = parser.parse_args()
    runs, user = args.runs, args.user
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        process, base, qr_token = serve(Path(folder), args.database_url, args.cases)
        try:
            token = requests.post(
                f"{base}/api/v1/auth/login",
                timeout=10,
                json={"username": user, "password": PASSWORD},
            ).json()
            rows = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                checks = {
                    "/m/ sign-in form": ("/m/", "#username", None),
                    f"/m/ 我的待办 ({user}, signed in)": ("/m/", "h1:has-text('我的待办')", token),
                    "villager report page /q/<token>": (f"/q/{qr_token}", "main h1", None),
                    "floor: /healthz, a few bytes (the yardstick)": ("/healthz", "body", None),
                }
                for name, (path, ready, signed) in checks.items():
                    measured = [
                        first_screen(browser, base, path, ready, token=signed) for _ in range(runs)
                    ]
                    rows[name] = (
                        statistics.median(b for b, _ in measured),
                        statistics.median(s for _, s in measured),
                    )
                cases = statistics.median(open_cases(browser, base, token) for _ in range(runs))
                browser.close()
        finally:
            process.terminate()
            process.wait(15)
    print(f"1.6 Mbit/s, 150 ms round trip, empty cache; medians of {runs} runs")
    print(f"{'first screen':45} {'kB':>8} {'usable s':>9}")
    for name, (size, seconds) in rows.items():
        print(f"{name:45} {size / 1024:8.1f} {seconds:9.2f}")
    print(f"{'/m/ 我的待办 -> 我的案件 (list drawn)':45} {'':>8} {cases:9.2f}")
    print("goals: /m/ first screen <= 150 kB and usable <= 3 s; 我的案件 <= 1.5 s")


if __name__ == "__main__":
    main()
