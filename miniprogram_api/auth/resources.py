"""/auth: tokens for the mini program."""

from urllib.parse import quote, urlencode

from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.api import client_ip, current_user, login_required, require_body_type
from miniprogram_api.auth.schemas import (
    AuthorizeQuerySchema,
    AuthorizeSchema,
    BoundSchema,
    LoginSchema,
    PasswordChangeSchema,
    SignedOutSchema,
    TokenSchema,
    UserSchema,
    WebCodeSchema,
    WeChatCodeSchema,
)
from server import auth
from server.infra import wechat
from server.organisation.qr import public_base_url

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="登录与微信绑定")
bp.before_request(require_body_type("application/json"))


def _token_answer(user):
    token = auth.issue_token(user)
    return {
        "token": token.value,
        "token_type": "Bearer",
        "expires_at": token.expires_at,
        "user": user,
    }


@bp.route("/login")
class Login(MethodView):
    @bp.doc(security=[])
    @bp.arguments(LoginSchema)
    @bp.response(200, TokenSchema)
    @bp.alt_response(401, description="用户名或密码错误")
    @bp.alt_response(403, description="密码已被重置，须先设置新密码（POST /auth/password）")
    @bp.alt_response(429, description="失败次数过多，请稍后再试（账号不会被锁定）")
    def post(self, data):
        """Sign in with username and password."""
        user = auth.authenticate_for_api(data["username"], data["password"], ip=client_ip())
        return _token_answer(user)


@bp.route("/wechat")
class WeChatLogin(MethodView):
    @bp.doc(security=[])
    @bp.arguments(WeChatCodeSchema)
    @bp.response(200, TokenSchema)
    @bp.alt_response(400, description="code 无效或过期")
    @bp.alt_response(403, description="该微信未绑定账号，或未开通微信登录")
    @bp.alt_response(503, description="微信接口暂时不可用")
    def post(self, data):
        """Sign in with the code from wx.login(), for a WeChat account bound to a user."""
        user = auth.login_with_wechat(data["code"], ip=client_ip())
        return _token_answer(user)


@bp.route("/wechat/bind")
class WeChatBind(MethodView):
    decorators = [login_required]

    @bp.arguments(WeChatCodeSchema)
    @bp.response(200, BoundSchema)
    @bp.alt_response(409, description="该微信已绑定其他账号")
    def post(self, data):
        """Bind the caller's WeChat account (code from wx.login()) to the signed-in user."""
        auth.bind_wechat(current_user(), data["code"], ip=client_ip())
        return {"bound": True}


@bp.route("/me")
class Me(MethodView):
    decorators = [login_required]

    @bp.response(200, UserSchema)
    def get(self):
        """The signed-in user."""
        return current_user()


@bp.route("/refresh")
class Refresh(MethodView):
    decorators = [login_required]
    bodyless = True

    @bp.response(200, TokenSchema)
    def post(self):
        """A new token for the signed-in user (the old one works until it expires): a phone
        in use stays signed in, one left a day in a drawer does not."""
        return _token_answer(current_user())


@bp.route("/logout")
class Logout(MethodView):
    decorators = [login_required]
    bodyless = True  # POST with nothing in it

    @bp.response(200, SignedOutSchema)
    def post(self):
        """Sign out: every token of the user stops working (on every phone)."""
        auth.sign_out(current_user(), ip=client_ip())
        return {"signed_out": True}


@bp.route("/wechat-web/authorize")
class WebAuthorize(MethodView):
    @bp.doc(security=[])
    @bp.arguments(AuthorizeQuerySchema, location="query")
    @bp.response(200, AuthorizeSchema)
    @bp.alt_response(403, description="未开通公众号网页授权")
    def get(self, query):
        """Where to send the phone for the official account's web authorization; it comes
        back to the workbench /m/ with `code` and `state`."""

        appid, _secret = wechat.official_account()
        back = f"{public_base_url()}/m/"
        if getattr(wechat.client(), "offline", False):
            # Offline: straight back, with a code of this phone's own: the part of its
            # state before "_" names the phone, the rest is fresh for each attempt.
            phone = query["state"].split("_")[0]
            answer = urlencode({"code": "fake-" + phone, "state": query["state"]})
            return {"url": f"{back}?{answer}"}
        return {
            "url": "https://open.weixin.qq.com/connect/oauth2/authorize?"
            f"appid={appid}&redirect_uri={quote(back, safe='')}"
            f"&response_type=code&scope=snsapi_base&state={query['state']}"
            "#wechat_redirect"
        }


@bp.route("/wechat-web")
class WebLogin(MethodView):
    @bp.doc(security=[])
    @bp.arguments(WebCodeSchema)
    @bp.response(200, TokenSchema)
    @bp.alt_response(400, description="code 无效或过期")
    @bp.alt_response(403, description="该微信未绑定账号，或未开通网页授权")
    @bp.alt_response(503, description="微信接口暂时不可用")
    def post(self, data):
        """Sign in with the code of the official account's web authorization (the
        workbench opened from the 公众号 menu), for an account bound to that openid."""
        user = auth.login_with_official_account(data["code"], ip=client_ip())
        return _token_answer(user)


@bp.route("/wechat-web/bind")
class WebBind(MethodView):
    decorators = [login_required]

    @bp.arguments(WebCodeSchema)
    @bp.response(200, BoundSchema)
    @bp.alt_response(409, description="该微信已绑定其他账号")
    def post(self, data):
        """Bind the official-account openid behind `code` to the signed-in user: next
        time the menu link signs them in without a password."""
        auth.bind_official_account(current_user(), data["code"], ip=client_ip())
        return {"bound": True}


@bp.route("/password")
class Password(MethodView):
    @bp.doc(security=[])
    @bp.arguments(PasswordChangeSchema)
    @bp.response(200, TokenSchema)
    @bp.alt_response(401, description="用户名或原密码错误")
    @bp.alt_response(422, description="新密码不符合要求")
    @bp.alt_response(429, description="失败次数过多")
    def post(self, data):
        """Choose a new password (after a reset this comes before any sign-in); answers
        with a token, as a sign-in does."""
        user = auth.authenticate(data["username"], data["password"], ip=client_ip())
        auth.change_own_password(user, data["password"], data["new_password"], ip=client_ip())
        return _token_answer(user)
