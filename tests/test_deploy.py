"""The shipped deployment files work as shipped (issue 18): nginx's site passes `nginx -t`
on Debian 12's nginx, with a self-signed certificate made here in place of the town's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parents[1] / "deploy"


def _nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run should install it")
        pytest.skip("no nginx on this machine")
    return found


def test_the_nginx_site_passes_nginx_t(tmp_path):
    nginx = _nginx()
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=grid.example.gov.cn",
            "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem"),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    # The site as shipped; only where the town keeps its certificate and logs moves here.
    site = (
        (DEPLOY / "nginx-grid-report.conf")
        .read_text(encoding="utf-8")
        .replace("/etc/grid-report/tls/", f"{tmp_path}/")
        .replace("/var/log/nginx/", f"{tmp_path}/")
    )
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    (tmp_path / "nginx.conf").write_text(
        f"error_log {tmp_path}/error.log;\n"
        f"pid {tmp_path}/nginx.pid;\n"
        "events {}\n"
        "http {\n"
        "  include /etc/nginx/mime.types;\n"
        f"  access_log {tmp_path}/access.log;\n"
        f"  client_body_temp_path {tmp_path}/body;\n"
        f"  include {tmp_path}/site.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_gunicorn_s_settings_travel_inside_the_package(tmp_path):
    """The service starts gunicorn with `--config python:server.gunicorn_conf`: an
    installed wheel carries them (deploy/ is not in it). gunicorn itself checks them."""
    import sys

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
