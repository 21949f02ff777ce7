"""Schemathesis over the whole OpenAPI document, as a grid worker and as a handler.

The app runs on a real HTTP server on 127.0.0.1 (a database of its own, really
committing); schemathesis' CLI drives it with every check on. SCHEMATHESIS_SEED picks
the seed (a fixed one by default, so CI is repeatable; any other finds other inputs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from server.db import db
from tests.factories import PASSWORD, build_world
from tests.helpers import case_in

CONFIG = Path(__file__).with_name("schemathesis.toml")
LOGOUT = "/api/v1/auth/logout"


@pytest.fixture
def live_api(fresh_app):
    """The app served on 127.0.0.1 with a small town and a few cases in it."""
    fresh_app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 as production does
    with fresh_app.app_context():
        world = build_world()
        for situation in ("submitted", "dispatched", "in_progress", "follow_up"):
            case_in(situation, world)
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, fresh_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def _token(base_url: str, username: str) -> str:
    import requests

    response = requests.post(
        f"{base_url}/api/v1/auth/login",
        timeout=10,
        json={"username": username, "password": PASSWORD},
    )
    response.raise_for_status()
    return response.json()["token"]


def _schemathesis(base_url: str, token: str, tmp_path: Path, *paths: str) -> str:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "20261126"),
        "--workers",
        "1",
        "--no-color",
        *paths,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


@pytest.mark.parametrize("username", ["t_grid1", "t_justice"], ids=["grid_worker", "handler"])
def test_schemathesis_finds_no_failure(live_api, username, tmp_path):
    token = _token(live_api, username)
    # Signing out takes the token back, so it is tried last, once everything else is.
    rest = _schemathesis(live_api, token, tmp_path, "--exclude-path", LOGOUT)
    last = _schemathesis(live_api, token, tmp_path, "--include-path", LOGOUT)
    selected, total = map(int, re.search(r"Selected: (\d+)/(\d+)", rest).groups())
    assert selected == total - 1, rest[-3000:]
    assert "Selected: 1/" in last, last[-3000:]
    output = rest + last
    (Path(os.environ.get("TEST_OUTPUT", tmp_path)) / f"schemathesis-{username}.log").write_text(
        output, encoding="utf-8"
    )


def test_the_docs_page_is_in_chinese_and_served_whole_by_the_app(client):
    """The town may run on an intranet, and its developers read Chinese: the docs page
    is one page of ours (no script, no outside address), every operation of the spec on
    it with its summary, and no English sentence left (Swagger UI's was English)."""
    import re

    from miniprogram_api.docs import pages

    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "<script" not in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("#") or url == "/api/v1/openapi.json", url
    spec = client.get("/api/v1/openapi.json").json
    assert spec["info"]["title"] == "grid-report 小程序接口"
    shown = pages(spec)
    assert shown["missing"] == []
    operations = [(m, p) for p, item in spec["paths"].items() for m in item if m != "parameters"]
    assert len(operations) >= 30
    for method, path in operations:
        assert f"{method.upper()}</span><code>{path}</code>" in html, (method, path)
    # Prose, outside the code and the style: no three English words in a row.
    text = re.sub(r"<(style|code)>.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    assert not re.findall(r"[A-Za-z]+(?: [A-Za-z]+){2,}", text)
    assert re.search(r'id="schema-Error"', html)  # what every refusal answers
    ids = set(re.findall(r'id="([^"]+)"', html))
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert anchor in ids, anchor  # every link of the page leads somewhere on it
    upload = html[html.index('id="post-media"') :]
    upload = upload[: upload.index("<h3", 10)]
    assert "multipart/form-data" in upload  # a photo goes as a file, not as a form
    assert "<td><code>file</code></td><td>是</td>" in upload


def test_every_summary_of_the_docs_belongs_to_an_operation(client):
    """SUMMARIES names each operation once: a renamed path leaves no stale sentence."""
    from miniprogram_api.api import PREFIX
    from miniprogram_api.docs import SUMMARIES

    spec = client.get("/api/v1/openapi.json").json
    operations = {
        (m, p.removeprefix(PREFIX))
        for p, item in spec["paths"].items()
        for m in item
        if m != "parameters"
    }
    assert set(SUMMARIES) == operations
    assert all(any("\u4e00" <= c <= "\u9fff" for c in words) for words in SUMMARIES.values())
