"""Report-create throughput and latency: grid-report's endpoint beside a minimal one.

Runs both under gunicorn with server/gunicorn_conf.py (same workers and threads) on
SQLite files with the same settings (WAL, synchronous=FULL, BEGIN IMMEDIATE), drives
each with 16 concurrent clients for the same time, one after the other in one run, and
prints requests/s, p50 and p99 and the ratios. Goals (issue 3): ours at least 0.5x the
minimal throughput, and p99 at most 2x.

    .venv/bin/python benchmarks/bench_reports.py [--seconds 15] [--clients 16]
        [--driver wrk|python] [--keep-alive] [--queued-minimal] [--same-parties]

Each request comes on a connection of its own, as nginx sends them to gunicorn
(deploy/nginx-grid-report.conf keeps no upstream connection open). With --keep-alive the
16 connections stay open, and where gunicorn's two workers happen to accept them decides
the result: 14 on one worker and 2 on the other halves our figure from one run to the
next. --queued-minimal gives the minimal endpoint grid-report's write queue
(server/db/write_queue.py) too, to see what the queue alone is worth.

The load comes from `wrk` (Debian: `apt-get install wrk`) when it is installed: it is
one small C process, so on a 2-core machine the clients take little CPU from the
servers they measure. A Lua script gives each of our requests a fresh Idempotency-Key
and the bearer token. Without wrk, or with `--driver python`, Python threads in this
process are the clients: they compete with gunicorn for the CPU and inflate both
endpoints' latencies (the ratios move less than the figures). The driver used is printed.

Each report is a dispute between two people of its own (a number in their names), as a
town's are; --same-parties sends the same two every time, so that every report repeats
the earlier ones (重复纠纷) and the repeat-dispute check lists five of them: its worst case.
Measured here on 2026-12-01 (2 cores, three runs each): 0.52-0.54 before the check
(issue 12) with the same two names, 0.46 with it, 0.40 with --same-parties; the check is
one indexed statement (server/cases/repeats.py), but it is the create's only read after the
sign-in's, so it costs a read transaction of its own.

Traffic goes only to 127.0.0.1. Figures are printed, never asserted; on a shared
machine run it a few times.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BODY = {
    "category": "D02",
    "village": 1,
    "grid": 1,
    "description": "两户邻居因排水沟争吵。",
    "place_text": "村东头",
    "people_involved": 2,
    "parties": [{"name": "张三#N#"}, {"name": "李四#N#", "side": "respondent"}],
}
# "#N#" in a party's name becomes a number of each request's own, so that every report is
# a dispute between other people, as a town's are; --same-parties keeps the names, so that
# every report repeats the earlier ones (重复纠纷): the repeat-dispute check's worst case.
PER_REQUEST = "#N#"

# wrk's Lua: one POST per call of request(), each of ours with a key of its own. Keys are a
# per-thread random prefix and a counter, so no two requests of a run share one.
WRK_SCRIPT = r"""
local body = os.getenv("BENCH_BODY")
local token = os.getenv("BENCH_TOKEN")
local path = os.getenv("BENCH_PATH")
local counter = 0
local prefix

function init(args)
  local f = io.open("/dev/urandom", "rb")
  local bytes = f:read(6)
  f:close()
  prefix = string.format("%02x%02x%02x%02x-%02x%02x-4", bytes:byte(1, 6))
end

function request()
  local headers = {["Content-Type"] = "application/json"}
  local sent = body:gsub("#N#", string.format("%s%d", prefix, counter))
  if os.getenv("BENCH_CLOSE") == "1" then
    headers["Connection"] = "close"
  end
  if token ~= nil and token ~= "" then
    counter = counter + 1
    headers["Authorization"] = "Bearer " .. token
    headers["Idempotency-Key"] = string.format("%s%03x-8%03x-%012x", prefix,
      math.random(0, 4095), math.random(0, 4095), counter)
  end
  return wrk.format("POST", path, headers, sent)
end

function done(summary, latency, requests)
  io.write(string.format(
    "BENCH {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"errors\": %d}\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app: str, port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, our own arguments
        [str(BIN / "gunicorn"), "--config", "python:server.gunicorn_conf", app],
        env=os.environ | env | {"PORT": str(port), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    for _ in range(100):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def load_python(
    port: int, path: str, token: str | None, seconds: float, clients: int, close: bool, vary: bool
):
    """Python threads as clients (when wrk is missing)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    template = json.dumps(BODY, ensure_ascii=False)

    def headers():
        common = {"Content-Type": "application/json"} | ({"Connection": "close"} if close else {})
        if token is None:
            return common
        return common | {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            payload = template.replace(PER_REQUEST, uuid.uuid4().hex[:12] if vary else "").encode()
            connection.request("POST", path, body=payload, headers=headers())
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 201:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def load_wrk(
    port: int,
    path: str,
    token: str | None,
    seconds: float,
    clients: int,
    script: Path,
    close: bool,
    vary: bool,
):
    """wrk as the clients: one thread, `clients` connections."""
    env = os.environ | {
        "BENCH_BODY": json.dumps(BODY, ensure_ascii=False)
        if vary
        else json.dumps(BODY, ensure_ascii=False).replace(PER_REQUEST, ""),
        "BENCH_TOKEN": token or "",
        "BENCH_PATH": path,
        "BENCH_CLOSE": "1" if close else "0",
    }
    out = subprocess.run(  # noqa: S603 - wrk, our own arguments
        [
            shutil.which("wrk"),
            "-t1",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    r = json.loads(line.removeprefix("BENCH "))
    return {
        "requests": r["requests"],
        "errors": r["errors"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
    }


def prepare_grid_report(database: str) -> dict:
    """Migrate and seed the demo town; return the environment that serves it."""
    instance = str(Path(database.removeprefix("sqlite:///")).parent)
    env = os.environ | {"DATABASE_URL": database, "INSTANCE_PATH": instance}
    for command in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run(  # noqa: S603 - our own console script, our own arguments
            [str(BIN / "grid-report"), *command],
            env=env,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--driver", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python"
    )
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="keep each client's connection open (not as behind nginx)",
    )
    parser.add_argument(
        "--queued-minimal",
        action="store_true",
        help="give the minimal endpoint grid-report's write queue",
    )
    parser.add_argument(
        "--same-parties",
        action="store_true",
        help="every report between the same two people (each a repeat)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(WRK_SCRIPT)

        def load(port, path, token, seconds):
            close = not args.keep_alive
            vary = not args.same_parties
            if args.driver == "wrk":
                return load_wrk(port, path, token, seconds, args.clients, script, close, vary)
            return load_python(port, path, token, seconds, args.clients, close, vary)

        ours_db = f"sqlite:///{tmp}/grid.sqlite3"
        env = prepare_grid_report(ours_db)
        env.pop("PYTHONPATH", None)
        ours_port, minimal_port = free_port(), free_port()
        ours = start(
            "server:create_app()", ours_port, {k: env[k] for k in ("DATABASE_URL", "INSTANCE_PATH")}
        )
        minimal_env = {
            "MINIMAL_DATABASE_URL": f"sqlite:///{tmp}/minimal.sqlite3",
            "MINIMAL_WRITE_QUEUE": "1" if args.queued_minimal else "",
        }
        subprocess.run(
            [sys.executable, "-c", "from benchmarks.minimal_app import create_app; create_app()"],
            env=os.environ | minimal_env,
            cwd=ROOT,
            check=True,
        )
        minimal = start("benchmarks.minimal_app:create_app()", minimal_port, minimal_env)
        try:
            connection = http.client.HTTPConnection("127.0.0.1", ours_port)
            connection.request(
                "POST",
                "/api/v1/auth/login",
                headers={"Content-Type": "application/json"},
                body=json.dumps(
                    {"username": "grid01", "password": os.environ.get("DEMO_PASSWORD", "Demo@2026")}
                ),
            )
            token = json.loads(connection.getresponse().read())["token"]

            load(minimal_port, "/minimal/reports", None, 2)  # warm up
            load(ours_port, "/api/v1/reports", token, 2)
            base = load(minimal_port, "/minimal/reports", None, args.seconds)
            mine = load(ours_port, "/api/v1/reports", token, args.seconds)
        finally:
            for process in (ours, minimal):
                process.terminate()
                process.wait(10)

    print(
        f"{args.clients} clients ({args.driver}, "
        f"{'keep-alive' if args.keep_alive else 'a connection per request'}), "
        f"{args.seconds:.0f} s each, gunicorn per server/gunicorn_conf.py"
        + (", the minimal with the write queue" if args.queued_minimal else "")
        + (", every report between the same parties" if args.same_parties else "")
    )
    print(f"{'':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in (("minimal", base), ("grid", mine)):
        print(f"{name:10} {r['rps']:8.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:7d}")
    print(f"throughput ratio (grid/minimal): {mine['rps'] / base['rps']:.2f}  (goal >= 0.5)")
    print(f"p99 ratio (grid/minimal):        {mine['p99_ms'] / base['p99_ms']:.2f}  (goal <= 2.0)")


if __name__ == "__main__":
    main()
