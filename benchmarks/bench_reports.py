"""Report-create throughput, latency and CPU: grid-report's endpoint beside a yardstick.

The yardstick (benchmarks/minimal_app.py) is the least a report endpoint can do: Flask +
SQLAlchemy parse the JSON, insert the report and an audit row, and commit before they
answer. Everything that is not the endpoint's own work is the same for both, so that the
ratio measures only that work: one gunicorn (server/gunicorn_conf.py: its workers,
threads and access log), one database server, the same engine options, and on SQLite the
same seam (WAL, synchronous=FULL, BEGIN IMMEDIATE at the first write, the writers' queue
of server/db/write_queue.py). Each database gets scratch databases of its own (SQLite
files in a temporary folder; on PostgreSQL two databases with unique names, dropped
after).

Each run drives the minimal endpoint, then ours (the grid worker's POST /api/v1/reports,
as grid01, each request with an Idempotency-Key of its own), with the same clients for
the same time; the next run starts with ours. It prints, for each: requests/s, median
and p99 latency, and the CPU per request of the gunicorn processes serving it (utime +
stime of the master and its workers from /proc, before and after, over the requests
answered), and on PostgreSQL that of the database's own backends beside it. Goals
(issue 20, point 4): ours at least 0.5x the minimal throughput, p99 at most 2x.

    .venv/bin/python benchmarks/bench_reports.py [--database sqlite|postgresql|both]
        [--runs 3] [--seconds 15] [--clients 16] [--driver wrk|python] [--keep-alive]
        [--same-parties] [--postgres URL] [--floor] [--profile pyinstrument|cprofile]

--floor adds a third endpoint, the floor (benchmarks/floor_app.py): our statements for a
report (the user, the key, the earlier disputes, the case, its event, parties and search
words, the key's answer) sent through SQLAlchemy Core to a grid-report database of its
own, and nothing else. It says how much of the gap to the minimal endpoint is the
database's work, which no code of ours can shorten, and how much is our code.

--profile serves ours alone under a profiler (benchmarks/profiled_app.py: each request
profiled in the thread serving it, in the same gunicorn), loads it as a run does, and
prints where the time went: pyinstrument's wall-time tree (waits included) or cProfile's
CPU time per function. Its throughput is the profiler's, not ours. pyinstrument is no
dependency of ours: `.venv/bin/pip install pyinstrument` first (cProfile needs nothing).

Each request comes on a connection of its own, as nginx sends them to gunicorn
(deploy/nginx-grid-report.conf keeps no upstream connection open). With --keep-alive the
16 connections stay open, and where gunicorn's two workers happen to accept them decides
the result: 14 on one worker and 2 on the other halves our figure from one run to the
next.

The load comes from `wrk` (Debian: `apt-get install wrk`) when it is installed: it is
one small C process, so on a 2-core machine the clients take little CPU from the
servers they measure. A Lua script gives each of our requests a fresh Idempotency-Key
and the bearer token. Without wrk, or with `--driver python`, Python threads in this
process are the clients: they compete with gunicorn for the CPU and inflate both
endpoints' latencies (the ratios move less than the figures). The driver used is printed.

Each report is a dispute between two people of its own (a number in their names), as a
town's are; --same-parties sends the same two every time, so that every report repeats
the earlier ones (重复纠纷) and the repeat-dispute check lists five of them: its worst case.

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
    for _ in range(300):
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{app} did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(30)


# CPU time from /proc: utime and stime are fields 14 and 15 of /proc/PID/stat, in ticks.
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def server_cpu_s(master: int) -> dict[int, float]:
    """CPU seconds so far of gunicorn's master and each of its workers, by process."""
    return {pid: _cpu_s(pid) for pid in (master, *_children(master))}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings (a process born meanwhile counts whole)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class Postgres:
    """Scratch databases on a PostgreSQL server, and its backends' CPU."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.made: list[str] = []

    def _admin(self):
        import psycopg

        url = self.url.set(drivername="postgresql", database="postgres")
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def create(self, stem: str) -> str:
        name = f"bench_{stem}_{uuid.uuid4().hex[:10]}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self._admin() as connection:
            for name in self.made:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()

    def backends_cpu_s(self, url: str) -> dict[int, float]:
        """CPU seconds so far of the backends serving the database of `url`."""
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        with self._admin() as connection:
            pids = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
            ).fetchall()
        return {pid: _cpu_s(pid) for (pid,) in pids}


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


def prepare_grid_report(database: str, instance: str) -> dict:
    """Migrate and seed the demo town; return the environment that serves it."""
    env = {"DATABASE_URL": database, "INSTANCE_PATH": instance}
    for command in (["db", "upgrade", "--no-backup"], ["seed-demo"]):
        subprocess.run(  # noqa: S603 - our own console script, our own arguments
            [str(BIN / "grid-report"), *command],
            env=os.environ | env,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
    return env


def prepare_minimal(database: str) -> dict:
    """Create the yardstick's tables; return the environment that serves it."""
    env = {"MINIMAL_DATABASE_URL": database}
    subprocess.run(
        [sys.executable, "-c", "from benchmarks.minimal_app import create_app; create_app()"],
        env=os.environ | env | {"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        check=True,
    )
    return env


def sign_in(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request(
        "POST",
        "/api/v1/auth/login",
        headers={"Content-Type": "application/json"},
        body=json.dumps(
            {"username": "grid01", "password": os.environ.get("DEMO_PASSWORD", "Demo@2026")}
        ),
    )
    return json.loads(connection.getresponse().read())["token"]


GRID_PATH = "/api/v1/reports"
MINIMAL_PATH = "/minimal/reports"
FLOOR_PATH = "/floor/reports"


def compare(args, load, kind: str, tmp: Path, postgres: Postgres | None) -> list[dict]:
    """The runs on one database: each a dict of the minimal's and ours figures."""
    if postgres is not None:
        grid_url, minimal_url = postgres.create("grid"), postgres.create("minimal")
    else:
        grid_url = f"sqlite:///{tmp}/{kind}-grid.sqlite3"
        minimal_url = f"sqlite:///{tmp}/{kind}-minimal.sqlite3"
    instance = tmp / f"{kind}-instance"
    # Every database is ready before a server starts: a failing seed leaves none running.
    grid_env = prepare_grid_report(grid_url, str(instance))
    minimal_env = prepare_minimal(minimal_url)
    apps = {
        "grid": ("server:create_app()", grid_url, grid_env),
        "minimal": ("benchmarks.minimal_app:create_app()", minimal_url, minimal_env),
    }
    if args.floor:
        # A grid-report database of its own, migrated and seeded as ours.
        floor_url = (
            postgres.create("floor") if postgres else f"sqlite:///{tmp}/{kind}-floor.sqlite3"
        )
        prepare_grid_report(floor_url, str(tmp / f"{kind}-floor-instance"))
        apps["floor"] = (
            "benchmarks.floor_app:create_app()",
            floor_url,
            {"FLOOR_DATABASE_URL": floor_url},
        )
    servers = {}
    try:
        for name, (app, url, env) in apps.items():
            port = free_port()
            servers[name] = (start(app, port, env), port, url)
        token = sign_in(servers["grid"][1])
        paths = {
            "grid": (GRID_PATH, token),
            "minimal": (MINIMAL_PATH, None),
            "floor": (FLOOR_PATH, token),
        }

        def measure(name: str, seconds: float) -> dict:
            process, port, url = servers[name]
            path, bearer = paths[name]
            before = server_cpu_s(process.pid)
            db_before = postgres.backends_cpu_s(url) if postgres else {}
            figures = load(port, path, bearer, seconds)
            answered = max(1, figures["requests"])
            figures["cpu_ms"] = 1000 * spent(before, server_cpu_s(process.pid)) / answered
            if postgres is not None:
                db_after = postgres.backends_cpu_s(url)
                figures["db_cpu_ms"] = 1000 * spent(db_before, db_after) / answered
            return figures

        names = ("minimal", "grid", "floor") if args.floor else ("minimal", "grid")
        for name in names:
            measure(name, 2)  # warm up: every worker has its connections and caches
        runs = []
        for run in range(args.runs):
            order = names if run % 2 == 0 else names[::-1]
            runs.append({name: measure(name, args.seconds) for name in order})
        return runs
    finally:
        for process, _, _ in servers.values():
            stop(process)


def profile(args, load, kind: str, tmp: Path, postgres: Postgres | None) -> None:
    """Ours alone under a profiler (benchmarks/profiled_app.py): load it, print the top."""
    folder = tmp / f"{kind}-profiles"
    folder.mkdir()
    url = postgres.create("profile") if postgres else f"sqlite:///{tmp}/{kind}-profile.sqlite3"
    grid_env = prepare_grid_report(url, str(tmp / f"{kind}-profile-instance"))
    port = free_port()
    process = start(
        "benchmarks.profiled_app:create_app()",
        port,
        grid_env | {"PROFILE_DIR": str(folder), "PROFILER": args.profile},
    )
    try:
        token = sign_in(port)
        warm = load(port, GRID_PATH, token, 2)
        figures = load(port, GRID_PATH, token, args.seconds)
    finally:
        stop(process)
    reports = warm["requests"] + figures["requests"]
    print(
        f"{kind}, profiled ({args.profile}): {figures['requests']} reports in {args.seconds:.0f} s "
        f"and the warm-up, {figures['errors']} errors"
    )
    if args.profile == "pyinstrument":
        import functools

        from pyinstrument.renderers import ConsoleRenderer
        from pyinstrument.session import Session

        sessions = [Session.load(str(p)) for p in sorted(folder.glob("*.pyisession"))]
        combined = functools.reduce(Session.combine, sessions)
        print(ConsoleRenderer(unicode=True, short_mode=True).render(combined))
        print(f"wall ms per report in our functions and in waits ({reports} reports):")
        for ms, name in inclusive_ms(combined.root_frame(), reports)[:45]:
            print(f"{ms:8.3f}  {name}")
    else:
        import pstats

        stats = pstats.Stats(*[str(p) for p in sorted(folder.glob("*.prof"))])
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)


OUR_CODE = ("/server/", "/miniprogram_api/")


def inclusive_ms(root, reports: int) -> list[tuple[float, str]]:
    """Wall ms per report spent in each function of ours and in each wait (a built-in
    taking 1% or more: the write queue's locks, SQLite's commit), a function counted once
    per stack, largest first."""
    totals: dict[str, float] = {}
    floor = root.time / 100

    def walk(frame, seen: frozenset) -> None:
        path = frame.file_path or ""
        name = f"{frame.function}  {frame.file_path_short}:{frame.line_no}"
        counts = any(part in path for part in OUR_CODE) or (
            (frame.file_path_short or "").startswith("<built-in>") and frame.time >= floor
        )
        if counts and name not in seen:
            totals[name] = totals.get(name, 0.0) + frame.time
            seen = seen | {name}
        for child in frame.children:
            walk(child, seen)

    walk(root, frozenset())
    return sorted(((1000 * t / reports, n) for n, t in totals.items()), reverse=True)


def print_runs(kind: str, runs: list[dict]) -> None:
    database = kind == "postgresql"
    head = f"{'run':>3} {'endpoint':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}"
    print(head + (f" {'db CPU ms/req':>14}" if database else "") + f" {'errors':>7}")
    for number, run in enumerate(runs, 1):
        for name in ("minimal", "floor", "grid"):
            if name not in run:
                continue
            r = run[name]
            line = (
                f"{number:>3} {name:10} {r['rps']:8.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} "
                f"{r['cpu_ms']:11.2f}"
            )
            if database:
                line += f" {r['db_cpu_ms']:14.2f}"
            print(line + f" {r['errors']:7d}")
        pairs = [("grid", "minimal", "grid/min")]
        if "floor" in run:
            pairs += [("floor", "minimal", "floor/min"), ("grid", "floor", "grid/floor")]
        for top, bottom, label in pairs:
            mine, base = run[top], run[bottom]
            line = (
                f"{number:>3} {label:10} {mine['rps'] / base['rps']:8.2f} "
                f"{mine['p50_ms'] / base['p50_ms']:8.2f} {mine['p99_ms'] / base['p99_ms']:8.2f} "
                f"{mine['cpu_ms'] / base['cpu_ms']:11.2f}"
            )
            if database:
                line += f" {mine['db_cpu_ms'] / max(base['db_cpu_ms'], 1e-9):14.2f}"
            print(line)

    def spread(key: str, top: str = "grid", bottom: str = "minimal") -> str:
        values = [run[top][key] / run[bottom][key] for run in runs]
        return f"{min(values):.2f}-{max(values):.2f}"

    print(
        f"throughput ratio {spread('rps')} (goal >= 0.5), p99 ratio {spread('p99_ms')} "
        f"(goal <= 2.0), CPU per request ratio {spread('cpu_ms')}"
    )
    if "floor" in runs[0]:
        print(
            f"the floor (our statements alone): throughput {spread('rps', 'floor')} of the "
            f"minimal's, p99 {spread('p99_ms', 'floor')}, CPU {spread('cpu_ms', 'floor')}; "
            f"ours {spread('rps', 'grid', 'floor')} of the floor's throughput"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
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
        "--same-parties",
        action="store_true",
        help="every report between the same two people (each a repeat)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server to make scratch databases on",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run our statements alone (benchmarks/floor_app.py), a third endpoint",
    )
    parser.add_argument(
        "--profile",
        choices=("pyinstrument", "cprofile"),
        help="profile ours instead of comparing (pyinstrument: wall time; cprofile: CPU)",
    )
    args = parser.parse_args()
    if args.profile == "pyinstrument":
        try:
            import pyinstrument  # noqa: F401 - only to say it is missing
        except ImportError:
            parser.error("pyinstrument is not installed: .venv/bin/pip install pyinstrument")

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT)

        def load(port, path, token, seconds):
            close = not args.keep_alive
            vary = not args.same_parties
            if args.driver == "wrk":
                return load_wrk(port, path, token, seconds, args.clients, script, close, vary)
            return load_python(port, path, token, seconds, args.clients, close, vary)

        kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
        load_before = os.getloadavg()[0]
        results = {}
        for kind in kinds:
            postgres = Postgres(args.postgres) if kind == "postgresql" else None
            try:
                if args.profile:
                    profile(args, load, kind, tmp, postgres)
                else:
                    results[kind] = compare(args, load, kind, tmp, postgres)
            finally:
                if postgres is not None:
                    postgres.drop_all()
        if args.profile:
            return

    workers = os.environ.get("WEB_CONCURRENCY", "2")
    threads = os.environ.get("GUNICORN_THREADS", "4")
    print(
        f"{args.clients} clients ({args.driver}, "
        f"{'keep-alive' if args.keep_alive else 'a connection per request'}), "
        f"{args.seconds:.0f} s a run, gunicorn per server/gunicorn_conf.py "
        f"({workers} workers x {threads} threads)"
        + (", every report between the same parties" if args.same_parties else "")
    )
    # Other work on the machine moves every figure here: say how busy it was.
    print(f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    for kind, runs in results.items():
        print(f"\n{'SQLite' if kind == 'sqlite' else 'PostgreSQL'}:")
        print_runs(kind, runs)


if __name__ == "__main__":
    main()
