"""A fake WeChat API on 127.0.0.1 for tests: real HTTP, canned answers, recorded calls."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeWeChat:
    """Answers jscode2session (and the official account's oauth2/access_token) by the
    code it gets:

    ``ok-<openid>`` a session for <openid>; ``bad`` errcode 40029; ``busy`` errcode -1;
    ``boom`` HTTP 500; ``slow`` answers after `slow_seconds`.
    """

    def __init__(self, slow_seconds: float = 3.0):
        self.calls: list[tuple[str, dict]] = []
        self.slow_seconds = slow_seconds
        # subscribe/send behaviour: "ok", "expired_once" (40001 until a token is
        # refreshed), "no_consent" (43101), "down" (HTTP 503)
        self.send_mode = "ok"
        self.tokens_issued = 0
        self.sent: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.calls.append((url.path, query))
                if url.path not in {"/sns/jscode2session", "/sns/oauth2/access_token"}:
                    return self._send(404, {"errcode": 404})
                # The mini program's code comes as js_code, the official account's as code.
                code = query.get("js_code", query.get("code", ""))
                if code == "boom":
                    return self._send(500, {})
                if code == "slow":
                    time.sleep(fake.slow_seconds)
                if code == "bad":
                    return self._send(200, {"errcode": 40029, "errmsg": "invalid code"})
                if code == "busy":
                    return self._send(200, {"errcode": -1, "errmsg": "system error"})
                openid = code.removeprefix("ok-")
                if url.path == "/sns/oauth2/access_token":
                    return self._send(
                        200,
                        {
                            "access_token": f"WEB-{openid}",
                            "openid": openid,
                            "expires_in": 7200,
                            "scope": "snsapi_base",
                        },
                    )
                return self._send(
                    200,
                    {
                        "openid": openid,
                        "session_key": f"SK-{openid}-secret",
                        "unionid": f"U-{openid}",
                    },
                )

            def do_POST(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.calls.append((url.path, query | {"body": body}))
                if url.path == "/cgi-bin/stable_token":
                    if body.get("force_refresh") or fake.tokens_issued == 0:
                        fake.tokens_issued += 1
                    return self._send(
                        200, {"access_token": f"TOKEN-{fake.tokens_issued}", "expires_in": 7200}
                    )
                if url.path == "/cgi-bin/message/subscribe/send":
                    if fake.send_mode == "down":
                        return self._send(503, {})
                    if fake.send_mode == "no_consent":
                        return self._send(200, {"errcode": 43101, "errmsg": "user refuse"})
                    if fake.send_mode == "expired_once" and query.get("access_token") == "TOKEN-1":
                        return self._send(200, {"errcode": 40001, "errmsg": "invalid token"})
                    fake.sent.append(body)
                    return self._send(200, {"errcode": 0, "errmsg": "ok"})
                return self._send(404, {"errcode": 404})

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # the client gave up ("slow")
                    self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
