"""The shipped deployment files work as shipped (issue 18): nginx's site passes `nginx -t`
on Debian 12's nginx, with a self-signed certificate made here in place of the town's."""

from __future__ import annotations

import getpass
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from cryptography.fernet import Fernet

from server.db import db
from tests.conftest import fresh_database
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run should install it")
        pytest.skip("no nginx on this machine")
    return found


def _self_signed(folder: Path, name: str) -> None:
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}",
            "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def nginx_t(site: Path, folder: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on `site` inside a minimal nginx.conf of its own (the machine's own
    configuration is not touched), as Debian's nginx.conf includes a site."""
    nginx = _nginx()
    (folder / "nginx.conf").write_text(
        f"error_log {folder}/error.log;\n"
        f"pid {folder}/nginx.pid;\n"
        "events {}\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        f"  access_log {folder}/access.log;\n"
        f"  client_body_temp_path {folder}/body;\n"
        f"  include {site};\n"
        "}\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [nginx, "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_nginx_site_passes_nginx_t(tmp_path):
    _self_signed(tmp_path, "grid.example.gov.cn")
    # The site as shipped; only where the town keeps its certificate and logs moves here.
    site = (
        (DEPLOY / "nginx-grid-report.conf")
        .read_text(encoding="utf-8")
        .replace("/etc/grid-report/tls/", f"{tmp_path}/")
        .replace("/var/log/nginx/", f"{tmp_path}/")
    )
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    checked = nginx_t(tmp_path / "site.conf", tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@contextmanager
def shipped_site(folder: Path, upstream: str):
    """The shipped nginx site, running, in front of `upstream` (host:port): yields its
    HTTPS base URL, the certificate to trust, and the folder its logs are written to."""
    logs, tls = folder / "logs", folder / "tls"
    logs.mkdir()
    tls.mkdir()
    subprocess.run(  # the site's certificate, for the address the test reaches it on
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(tls / "privkey.pem"), "-out", str(tls / "fullchain.pem"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    trust = str(tls / "fullchain.pem")
    https, http = free_port(), free_port()
    site = (
        (DEPLOY / "nginx-grid-report.conf")
        .read_text(encoding="utf-8")
        .replace("/etc/grid-report/tls/", f"{tls}/")
        .replace("/var/log/nginx/", f"{logs}/")
        .replace("listen 443 ", f"listen 127.0.0.1:{https} ")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("server 127.0.0.1:5000 ", f"server {upstream} ")
    )
    (folder / "site.conf").write_text(site, encoding="utf-8")
    checked = nginx_t(folder / "site.conf", folder)
    assert checked.returncode == 0, checked.stderr
    nginx = subprocess.Popen(
        [_nginx(), "-p", str(folder), "-c", str(folder / "nginx.conf"),
         "-g", "daemon off; master_process off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"https://127.0.0.1:{https}"
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", verify=trust, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield base, trust, logs
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


def test_the_proxy_logs_no_searched_phone_nor_the_way_back_to_it(fresh_app, tmp_path):
    """The shipped site in front of the app under gunicorn: a phone typed into the
    admin's search reaches neither the proxy's access log nor the login page's address
    (the way back after signing in, which an expired session takes). Other pages are
    logged whole: their queries are filters, and the log is the town's record."""
    from tests.factories import build_world
    from tests.live_server import gunicorn_server

    with fresh_app.app_context():
        build_world()
        db.session.commit()
        url = fresh_app.config["DATABASE_URL"]
    phone = "13800138000"
    with (
        gunicorn_server(url, tmp_path) as upstream,
        shipped_site(tmp_path, upstream.removeprefix("http://")) as (base, trust, logs),
    ):
        searched = requests.get(
            f"{base}/admin/search?q={phone}", verify=trust, timeout=10, allow_redirects=False
        )
        assert searched.status_code == 302
        assert searched.headers["Location"].endswith("/admin/login?next=/admin/search")
        # An address the app gave before, or typed by hand, is not logged whole either.
        requests.get(f"{base}/admin/login?next=/admin/search?q%3D{phone}", verify=trust, timeout=10)
        requests.get(f"{base}/admin/?village=7", verify=trust, timeout=10)
    logged = (logs / "grid-report.access.log").read_text(encoding="utf-8")
    assert "GET /admin/search HTTP" in logged
    assert "GET /admin/login HTTP" in logged
    assert phone not in logged
    assert "GET /admin/?village=7 HTTP" in logged  # the others keep their query


def test_while_the_app_is_down_the_proxy_answers_in_chinese(tmp_path):
    """A restart, or the app down: nginx's own 502 page is English. People get a page
    in Chinese, phones the API's own shape, both saying to try again."""
    with shipped_site(tmp_path, f"127.0.0.1:{free_port()}") as (base, trust, logs):
        page = requests.get(f"{base}/q/some-village", verify=trust, timeout=10)
        api = requests.get(f"{base}/api/v1/cases", verify=trust, timeout=10)
        # What the site keeps out of its log while the app is up stays out while it is down.
        requests.get(f"{base}/t/SECRETTRACKINGCODE9", verify=trust, timeout=10)
        requests.post(f"{base}/q/VILLAGETOKEN", data={"x": "1"}, verify=trust, timeout=10)
        requests.get(f"{base}/admin/search?q=13800138000", verify=trust, timeout=10)
    logged = (logs / "grid-report.access.log").read_text(encoding="utf-8")
    assert " 503 " in logged  # the downtime is on record
    for secret in ("SECRETTRACKINGCODE9", "VILLAGETOKEN", "some-village", "13800138000"):
        assert secret not in logged, logged
    assert page.status_code == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    assert "稍后再试" in page.text
    assert "nginx" not in page.text
    assert "110" in page.text  # an emergency does not wait for the server
    assert page.headers["Retry-After"] == "60"
    assert api.status_code == 503
    assert api.json()["code"] == "unavailable"
    assert "请稍后再试" in api.json()["message"]


def test_gunicorn_s_settings_travel_inside_the_package(tmp_path):
    """The service starts gunicorn with `--config python:server.gunicorn_conf`: an
    installed wheel carries them (deploy/ is not in it). gunicorn itself checks them."""
    checked = subprocess.run(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config", "python:server.gunicorn_conf", "--check-config", "server:create_app()",
        ],
        cwd=tmp_path,  # not the source tree: the settings come from the installed package
        env={**os.environ, "INSTANCE_PATH": str(tmp_path), "ENV": "development"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- deploy/install.sh into a scratch root ------------------------------------------------
# The clerk's path, offline: `make wheelhouse`, then install.sh from those wheels alone.
# `--prefix` puts the whole tree (venv, settings, units, nginx site, data) in a folder and
# touches nothing else on the machine; the app is then started from what it wrote.


def _read_env(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )


def _exec_lines(unit: Path, key: str = "ExecStart") -> list[list[str]]:
    return [
        shlex.split(line.split("=", 1)[1])
        for line in unit.read_text(encoding="utf-8").splitlines()
        if line.startswith(f"{key}=")
    ]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    """What `make wheelhouse` makes: a wheel of the app and of everything it needs."""
    folder = tmp_path_factory.mktemp("wheelhouse") / "wheels"
    made = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "wheelhouse", f"WHEELHOUSE={folder}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    return folder


@pytest.fixture(scope="module")
def installed(wheelhouse, tmp_path_factory):
    """deploy/install.sh run into a scratch root, on this suite's kind of database."""
    scratch = tmp_path_factory.mktemp("install")
    root = scratch / "root"
    with fresh_database(scratch) as url:
        options = ["--database", "sqlite"]
        if url.startswith("postgresql"):
            options = ["--database", "postgresql", "--database-url", url]
        run = _installer(root, wheelhouse, options)
        yield SimpleNamespace(root=root, output=run.stdout, options=options, wheelhouse=wheelhouse)


def _installer(
    root: Path, wheelhouse: Path, options: list[str], *, port: bool = True
) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "INSTANCE_PATH", "TEST_DATABASE_URL", "PYTHONPATH"}
    }
    # Any try to reach a package index fails, and no other folder of wheels (this
    # machine's pip configuration names some) is looked in: the wheelhouse must suffice.
    environment = {k: v for k, v in environment.items() if not k.startswith("PIP_")}
    environment |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_NO_CACHE_DIR": "1",
    }
    ran = subprocess.run(
        [
            str(DEPLOY / "install.sh"), "--prefix", str(root), "--server-name", "grid.test",
            "--wheelhouse", str(wheelhouse), "--user", getpass.getuser(),
            *(["--port", str(free_port())] if port else []), *options,
        ],
        env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran


def test_install_writes_its_settings_once_and_keeps_them(installed):
    env_file = installed.root / "etc/grid-report/env"
    settings = _read_env(env_file)
    assert settings["ENV"] == "production"
    assert len(settings["SECRET_KEY"]) >= 32
    Fernet(settings["IDENTITY_KEYS"].encode())  # a key the app can seal with
    assert settings["RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert settings["INSTANCE_PATH"] == str(installed.root / "var/lib/grid-report")
    assert settings["PUBLIC_BASE_URL"] == "https://grid.test"
    assert env_file.stat().st_mode & 0o027 == 0  # the keys: the service's group reads them

    # Run again (an upgrade) without --port: the keys stay, or no sealed name could be
    # read back, and the port stays, in the settings, the units and the site alike.
    _installer(installed.root, installed.wheelhouse, installed.options, port=False)
    assert _read_env(env_file) == settings
    site = installed.root / "etc/nginx/sites-available/grid-report.conf"
    text = site.read_text(encoding="utf-8")
    assert f"\n    server 127.0.0.1:{settings['PORT']} " in text  # the upstream's machine
    assert "proxy_pass http://127.0.0.1" not in text  # every location goes through it


def test_every_shipped_unit_passes_systemd_analyze_verify(installed):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: .ci/run should install systemd")
        pytest.skip("no systemd-analyze on this machine")
    units = sorted((installed.root / "etc/systemd/system").glob("grid-report*"))
    shipped = sorted(
        p.name for p in DEPLOY.glob("grid-report*") if p.suffix in {".service", ".timer"}
    )
    assert [u.name for u in units] == shipped
    checked = subprocess.run(
        [analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr.strip() == ""

    # The check can fail: a unit whose program is missing is refused.
    broken = installed.root / "broken.service"
    broken.write_text("[Service]\nExecStart=/nonexistent/grid-report sweep\n", encoding="utf-8")
    refused = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0


def test_the_installed_nginx_site_passes_nginx_t(installed, tmp_path):
    site = installed.root / "etc/nginx/sites-available/grid-report.conf"
    assert (installed.root / "etc/nginx/sites-enabled/grid-report.conf").resolve() == site
    assert "server_name grid.test;" in site.read_text(encoding="utf-8")
    checked = nginx_t(site, tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_the_app_started_from_what_was_installed_answers_healthz(installed):
    """Each unit's own command, with the settings install.sh wrote: the sweep and the
    sender once (as their timers would), then the web service."""
    units = installed.root / "etc/systemd/system"
    settings = _read_env(installed.root / "etc/grid-report/env")
    environment = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", **settings}
    workdir = installed.root / "opt/grid-report"
    for name in ("grid-report-sweep.service", "grid-report-notify.service"):
        for command in _exec_lines(units / name):
            done = subprocess.run(
                command, env=environment, cwd=workdir, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stdout + done.stderr

    web = units / "grid-report.service"
    for command in _exec_lines(web, "ExecStartPre"):
        subprocess.run(command, env=environment, cwd=workdir, check=True, capture_output=True)
    [command] = _exec_lines(web)
    assert command[0] == str(installed.root / "opt/grid-report/venv/bin/gunicorn")
    log = installed.root / "gunicorn.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=environment, cwd=workdir, stdout=out, stderr=out)
        try:
            base = f"http://127.0.0.1:{settings['PORT']}"
            answer = _wait_for(f"{base}/healthz", server, log)
            assert answer.status_code == 200, answer.text
            assert answer.json()["database"] == "ok"
            # Production asks that the sweep and the sender have run: they just did.
            assert answer.json()["status"] == "ok", answer.text
            scraped = requests.get(f"{base}/metrics", timeout=10)
            assert scraped.status_code == 200
            assert 'grid_report_job_last_ok_timestamp_seconds{job="sweep"}' in scraped.text
            # The installed wheel carries the pages and their files, not only the code.
            page = requests.get(f"{base}/admin/login", timeout=10)
            assert page.status_code == 200
            assert "登录" in page.text
            files = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css|woff2?))"', page.text)
            assert files, "the sign-in page links no script or style"
            for path in files:
                assert requests.get(base + path, timeout=10).status_code == 200, path
        finally:
            server.terminate()
            server.wait(30)


def _wait_for(url: str, process: subprocess.Popen, log: Path) -> requests.Response:
    deadline = time.monotonic() + 60
    while True:
        try:
            return requests.get(url, timeout=5)
        except requests.RequestException:
            if process.poll() is not None:
                raise RuntimeError(log.read_text(errors="replace")) from None
            if time.monotonic() > deadline:
                raise RuntimeError("the installed app did not answer in 60 s") from None
            time.sleep(0.1)
