"""Our own small WeChat API client (wechatpy is unmaintained; see ECOSYSTEM.md).

It talks to WECHAT_API_BASE (the real API in production, a local fake server in tests)
with bounded timeouts. The session key it receives is WeChat's secret for a user's
session: it is returned to the caller for server-side storage and never logged.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

from server.infra.errors import DomainError, ServiceUnavailable

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)


class WeChatCodeInvalid(DomainError):
    code = "wechat_invalid_code"
    http_status = 400
    default_message = "微信登录凭证无效或已过期，请重新打开小程序再试。"


class WeChatUnavailable(ServiceUnavailable):
    code = "wechat_unavailable"
    default_message = "暂时无法连接微信，请稍后再试，或使用账号密码登录。"


class WeChatDisabled(DomainError):
    code = "wechat_disabled"
    http_status = 403
    default_message = "本系统未开通微信登录，请使用账号密码登录。"


@dataclass(frozen=True)
class WeChatSession:
    """What jscode2session answers: who the user is to this mini program."""

    openid: str
    session_key: str
    unionid: str | None = None

    def __repr__(self) -> str:  # never print the session key
        return f"WeChatSession(openid={self.openid!r})"


# errcodes that mean "this code is no good" rather than "WeChat is not answering".
_BAD_CODE = {40029, 40163, 40226}


class WeChatClient:
    """HTTP client for the handful of WeChat endpoints we use."""

    def __init__(
        self,
        base_url: str,
        appid: str,
        secret: str,
        timeout: float = 5.0,
        http: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.appid, self.secret = appid, secret
        # (connect, read): a dead network fails fast, a slow answer gets a little longer.
        self.timeout = (min(3.05, timeout), timeout)
        # Here: requests (5 MiB) loads with a worker's first call to WeChat, not at start-up.
        import requests

        self.http = http or requests.Session()

    def _get(self, path: str, params: dict) -> dict:
        import requests  # loaded by __init__ (see there)

        try:
            response = self.http.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException:
            raise WeChatUnavailable() from None
        if response.status_code >= 500:
            raise WeChatUnavailable()
        try:
            body = response.json()
        except ValueError:
            raise WeChatUnavailable() from None
        if not isinstance(body, dict):
            raise WeChatUnavailable()
        return body

    def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a `wx.login` code for the user's openid (jscode2session)."""
        body = self._get(
            "/sns/jscode2session",
            {
                "appid": self.appid,
                "secret": self.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        errcode = body.get("errcode") or 0
        if errcode in _BAD_CODE:
            raise WeChatCodeInvalid()
        if errcode or not body.get("openid") or not body.get("session_key"):
            # -1 busy, 45011 rate limited, or an answer we do not understand.
            raise WeChatUnavailable()
        return WeChatSession(str(body["openid"]), str(body["session_key"]), body.get("unionid"))

    def oauth_openid(self, code: str, *, appid: str, secret: str) -> str:
        """The openid behind an official account's web-authorization code (网页授权,
        snsapi_base): the phone workbench opened from the account's menu. The access
        token it comes with is not kept: the openid is all we ask."""
        body = self._get(
            "/sns/oauth2/access_token",
            {
                "appid": appid,
                "secret": secret,
                "code": code,
                "grant_type": "authorization_code",
            },
        )
        errcode = body.get("errcode") or 0
        if errcode in _BAD_CODE:
            raise WeChatCodeInvalid()
        if errcode or not body.get("openid"):
            raise WeChatUnavailable()
        return str(body["openid"])


class FakeWeChatClient:
    """Offline stand-in for `make run`: any code maps to a stable openid, a token is
    issued and a subscribe message "sent" without leaving the machine."""

    offline = True

    def code_to_session(self, code: str) -> WeChatSession:
        if not code or code == "invalid":
            raise WeChatCodeInvalid()
        digest = hashlib.sha256(code.encode()).hexdigest()
        return WeChatSession(f"fake-{digest[:24]}", digest[24:48])

    def oauth_openid(self, code: str, *, appid: str, secret: str) -> str:
        if not code or code == "invalid":
            raise WeChatCodeInvalid()
        return f"fake-oa-{hashlib.sha256(code.encode()).hexdigest()[:24]}"


def official_account() -> tuple[str, str]:
    """(appid, secret) of the town's official account (公众号), for web authorization;
    WeChatDisabled where none is configured (fake mode needs none)."""
    config = current_app.config
    if config["WECHAT_MODE"] == "fake":
        return config["WECHAT_OA_APPID"] or "wx-fake-oa", "fake"
    if not (config["WECHAT_OA_APPID"] and config["WECHAT_OA_SECRET"]):
        raise WeChatDisabled()
    return config["WECHAT_OA_APPID"], config["WECHAT_OA_SECRET"]


def client():
    """The WeChat client the app is configured for."""
    config = current_app.config
    mode = config["WECHAT_MODE"]
    if mode == "off":
        raise WeChatDisabled()
    if mode == "fake":
        return FakeWeChatClient()
    return WeChatClient(
        config["WECHAT_API_BASE"],
        config["WECHAT_APPID"],
        config["WECHAT_SECRET"],
        float(config["WECHAT_TIMEOUT_SECONDS"]),
    )


class WeChatNoConsent(DomainError):
    code = "wechat_no_consent"
    default_message = "用户未同意接收此订阅消息。"


class WeChatTokenExpired(DomainError):
    code = "wechat_token_expired"


def _post(client: WeChatClient, path: str, params: dict, body: dict) -> dict:
    import requests  # loaded by WeChatClient() (see there)

    try:
        response = client.http.post(
            f"{client.base_url}{path}", params=params, json=body, timeout=client.timeout
        )
    except requests.RequestException:
        raise WeChatUnavailable() from None
    if response.status_code >= 500:
        raise WeChatUnavailable()
    try:
        answer = response.json()
    except ValueError:
        raise WeChatUnavailable() from None
    return answer if isinstance(answer, dict) else {}


def stable_token(client: WeChatClient, *, force_refresh: bool = False) -> tuple[str, int]:
    """(access_token, seconds it lasts) from /cgi-bin/stable_token: repeated calls return
    the same token, so several processes do not invalidate each other's."""
    if getattr(client, "offline", False):
        return "fake-access-token", 7200
    answer = _post(
        client,
        "/cgi-bin/stable_token",
        {},
        {
            "grant_type": "client_credential",
            "appid": client.appid,
            "secret": client.secret,
            "force_refresh": force_refresh,
        },
    )
    if answer.get("errcode") or not answer.get("access_token"):
        raise WeChatUnavailable()
    return str(answer["access_token"]), int(answer.get("expires_in") or 7200)


def subscribe_send(
    client: WeChatClient,
    access_token: str,
    *,
    openid: str,
    template_id: str,
    page: str,
    data: dict[str, str],
    state: str = "formal",
) -> None:
    """Send one subscribe message; raises WeChatNoConsent (43101), WeChatTokenExpired
    (40001, 42001) or WeChatUnavailable (anything else)."""
    if getattr(client, "offline", False):
        log.info("wechat (fake mode): a subscribe message to page %s, not sent", page)
        return
    answer = _post(
        client,
        "/cgi-bin/message/subscribe/send",
        {"access_token": access_token},
        {
            "touser": openid,
            "template_id": template_id,
            "page": page,
            "data": {key: {"value": value} for key, value in data.items()},
            "miniprogram_state": state,
            "lang": "zh_CN",
        },
    )
    errcode = answer.get("errcode") or 0
    if errcode == 43101:
        raise WeChatNoConsent()
    if errcode in (40001, 42001, 40014):
        raise WeChatTokenExpired()
    if errcode:
        # Its number is kept with the message: the dead-letter page says what WeChat said.
        raise WeChatUnavailable(code=str(errcode))
