"""Who is asking: password sign-in, API tokens, WeChat binding.

Failed sign-ins slow the next try and never lock an account out (server/trust/
throttle.py); the security admins are told once each time an account comes under fire.
A failed sign-in's count and audit row are kept although it fails (`LoginFailed` keeps
its work).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from flask import current_app
from sqlalchemy import bindparam, or_, select

from server.cases import outbox
from server.db import db
from server.infra import clock, wechat
from server.infra.errors import (
    Conflict,
    DomainError,
    Unauthorized,
    ValidationFailed,
)
from server.models import Grid, Role, User
from server.models.organisation import user_grid
from server.trust import audit, passwords, throttle

# The user a token speaks for, and the village of each of their grids (a row a grid; one
# row with none for a user without grids): every API request asks, so one statement.
_USER_WITH_VILLAGES = (
    select(User, Grid.village_id)
    .outerjoin(user_grid, user_grid.c.user_id == User.id)
    .outerjoin(Grid, Grid.id == user_grid.c.grid_id)
    .where(User.id == bindparam("user_id"))
)
# Checked against when the username is unknown, so both answers take as long: the hash of
# "timing-equaliser-not-a-password", written out rather than made at import, which cost
# every worker's and command's start 0.3 s of CPU. tests/test_startup.py checks that it is
# made with the hasher's parameters of today (else a wrong name would answer faster).
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$eIbfbXxLVSQPhvnsw/932g"
    "$LWb4axL/uEXMMS2q56P+rlrgCbrP8MAH8mNq4vhLtFw"
)


class LoginFailed(DomainError):
    """Wrong username or password (which one is not said): counted and on record."""

    code = "invalid_credentials"
    http_status = 401
    default_message = "用户名或密码错误。"
    keeps_work = True


def authenticate(username: str, password: str, *, ip: str | None = None, roles=None) -> User:
    """The active user with this username and password; LoginFailed or TooManyRequests if not.

    On failure the failure count is in the session: the caller commits it.
    """
    throttle.check(username, ip)
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    good = passwords.verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not good or not user.active:
        _count_failure(username, user, ip)
        raise LoginFailed()
    throttle.clear(username, ip)
    if roles is not None and user.role not in roles:
        # The right password at the wrong door (a grid worker at the admin): on record as
        # what it was, not as a sign-in.
        audit.record(
            "auth.login_refused_role", actor=user, object_type="user", object_id=user.id, ip=ip
        )
        raise LoginFailed("网格员请使用手机工作台（/m/）登录。")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    audit.record("auth.login", actor=user, object_type="user", object_id=user.id, ip=ip)
    return user


def authenticate_for_api(username: str, password: str, *, ip: str | None = None) -> User:
    """As `authenticate`, for a token: refused while a reset password awaits its change."""
    user = authenticate(username, password, ip=ip)
    if user.must_change_password:
        raise PasswordChangeRequired()
    return user


def _count_failure(username: str, user: User | None, ip: str | None) -> None:
    """A failed sign-in: counted (server/trust/throttle.py) and on record; the security
    admins are told when an account's failures start slowing every try at it."""
    if throttle.count_failure(username, ip) and user is not None:
        _tell_security_admins(user, ip)
    audit.record(
        "auth.login_failed",
        actor=None,
        object_type="user",
        object_id=user.id if user else None,
        ip=ip,
        object_town=user.town_id if user else None,
        username=username[:64],
    )


def _tell_security_admins(user: User, ip: str | None) -> None:
    """An account whose failures now slow every try: on record, and in the inbox of the
    people who keep accounts (a spray no longer goes unnoticed)."""
    audit.record(
        "auth.slowed",
        actor=None,
        object_type="user",
        object_id=user.id,
        ip=ip,
        object_town=user.town_id,
        username=user.username,
    )
    # Those who keep this account: its town's security admins and the district's.
    keepers = db.session.scalars(
        select(User).where(
            User.role == Role.SECURITY_ADMIN,
            User.active.is_(True),
            or_(User.town_id.is_(None), User.town_id == user.town_id),
        )
    ).all()
    outbox.queue(
        list(keepers),
        "auth.slowed",
        case=None,
        title="账号登录连续失败",
        body=(
            f"账号“{user.username}”已连续{throttle.USERNAME.after}次登录失败，此后每次尝试需等待"
            "（最长1分钟），账号未被锁定。如非本人操作，请查看审计日志并提醒其修改密码。"
        ),
    )


class PasswordChangeRequired(DomainError):
    code = "password_change_required"
    http_status = 403
    default_message = "密码已被重置，请先设置新密码。"


def change_own_password(
    user: User, current: str, new_password: str, *, ip: str | None = None
) -> None:
    """The user chooses their own password (after a reset, or whenever they like)."""
    if not passwords.verify_password(user.password_hash, current):
        _count_failure(user.username, user, ip)
        raise LoginFailed("原密码不正确。")
    if new_password == current:
        raise ValidationFailed(
            "新密码不能与原密码相同。", code="same_password", field="new_password"
        )
    set_password(user, new_password, actor=user)
    user.must_change_password = False


def set_password(user: User, new_password: str, *, actor: User) -> None:
    """Change `user`'s password (policy-checked); every token issued before stops working."""
    passwords.check_policy(new_password)
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    passwords.rotate_token_secret(user)
    audit.record("user.password_changed", actor=actor, object_type="user", object_id=user.id)


# --- API tokens --------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """A bearer token and when it stops working."""

    value: str
    expires_at: datetime


def _signing_key() -> bytes:
    # A key of its own for tokens, derived from SECRET_KEY (32 bytes, as HS256 wants).
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"grid-report api token v1", hashlib.sha256).digest()


def _secret_digest(user: User) -> str:
    """What a token carries of the user's token secret (made on first use)."""
    if not user.token_secret:
        passwords.rotate_token_secret(user)
    return hashlib.sha256(user.token_secret.encode()).hexdigest()[:32]


def issue_token(user: User) -> Token:
    """A signed bearer token for `user`, valid for TOKEN_TTL_SECONDS."""
    now = clock.now()
    expires = now + timedelta(seconds=int(current_app.config["TOKEN_TTL_SECONDS"]))
    claims = {
        "sub": str(user.id),
        "sec": _secret_digest(user),
        "typ": "api",
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    import jwt  # here: PyJWT loads cryptography (11 MiB) when a worker first needs a token

    return Token(jwt.encode(claims, _signing_key(), algorithm="HS256"), expires)


@functools.lru_cache(maxsize=4096)
def _verified_claims(value: str, key: bytes) -> MappingProxyType:
    """The claims of a token whose signature is good (PyJWTError if not). A token's
    signature stays good or bad, so each is checked once per process; its times are
    checked at every use, on our clock (tests move it), not the system's."""
    import jwt  # here: see issue_token

    return MappingProxyType(
        jwt.decode(
            value,
            key,
            algorithms=["HS256"],
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["sub", "exp", "sec"],
            },
        )
    )


def user_from_token(value: str) -> User:
    """The user a bearer token speaks for; Unauthorized when it is bad, old or revoked."""
    import jwt  # here: see issue_token

    try:
        claims = _verified_claims(value, _signing_key())
    except jwt.PyJWTError:
        raise Unauthorized("登录凭证无效，请重新登录。", code="token_invalid") from None
    if claims.get("typ") != "api" or not str(claims["sub"]).isdigit():
        raise Unauthorized("登录凭证无效，请重新登录。", code="token_invalid")
    if claims["exp"] <= clock.now().timestamp():
        raise Unauthorized("登录已过期，请重新登录。", code="token_expired")
    rows = db.session.execute(_USER_WITH_VILLAGES, {"user_id": int(claims["sub"])}).all()
    user = rows[0][0] if rows else None
    if (
        user is None
        or not user.active
        or not user.token_secret
        or not hmac.compare_digest(str(claims["sec"]), _secret_digest(user))
    ):
        raise Unauthorized("登录凭证已失效，请重新登录。", code="token_revoked")
    if user.role == Role.GRID_WORKER:
        # Every access check of a grid worker asks for their villages: read afresh with
        # the user (an admin may have just changed them), kept on the user for this
        # request (`User.village_ids`); their grids load only if asked for.
        user.known_village_ids = {village for _, village in rows if village is not None}
    return user


def sign_out(user: User, *, ip: str | None = None) -> None:
    """Take back every token `user` holds (tokens are signed, not stored: the secret
    each one carries a digest of is replaced). A phone left in a village office signs
    out everywhere."""
    passwords.rotate_token_secret(user)
    audit.record("auth.logout", actor=user, object_type="user", object_id=user.id, ip=ip)


# --- WeChat ------------------------------------------------------------------------------


class WeChatNotBound(DomainError):
    code = "wechat_not_bound"
    http_status = 403
    default_message = "该微信尚未绑定账号：请先用账号密码登录，再在小程序中绑定微信。"


def login_with_wechat(code: str, *, ip: str | None = None) -> User:
    """The user bound to the WeChat account behind `code`; WeChatNotBound if none.

    Nothing is stored for an unbound or failed exchange.
    """
    session = wechat.client().code_to_session(code)
    user = db.session.scalar(select(User).where(User.wechat_openid == session.openid))
    if user is None or not user.active:
        raise WeChatNotBound()
    user.wechat_session_key = session.session_key
    audit.record("auth.login_wechat", actor=user, object_type="user", object_id=user.id, ip=ip)
    return user


def login_with_official_account(code: str, *, ip: str | None = None) -> User:
    """The user bound to the official-account openid behind a web-authorization `code`
    (the workbench opened from the 公众号 menu); WeChatNotBound if none."""
    appid, secret = wechat.official_account()
    openid = wechat.client().oauth_openid(code, appid=appid, secret=secret)
    user = db.session.scalar(select(User).where(User.wechat_oa_openid == openid))
    if user is None or not user.active:
        raise WeChatNotBound("该微信尚未绑定账号：请先用账号密码登录，登录后即可绑定。")
    audit.record("auth.login_wechat_web", actor=user, object_type="user", object_id=user.id, ip=ip)
    return user


def bind_official_account(user: User, code: str, *, ip: str | None = None) -> None:
    """Bind the official-account openid behind `code` to `user` (who is signed in)."""
    appid, secret = wechat.official_account()
    openid = wechat.client().oauth_openid(code, appid=appid, secret=secret)
    holder = db.session.scalar(select(User).where(User.wechat_oa_openid == openid))
    if holder is not None and holder.id != user.id:
        raise Conflict("该微信已绑定其他账号，请先解除原绑定。", code="wechat_already_bound")
    user.wechat_oa_openid = openid
    audit.record("auth.bind_wechat_web", actor=user, object_type="user", object_id=user.id, ip=ip)


def bind_wechat(user: User, code: str, *, ip: str | None = None) -> None:
    """Bind the WeChat account behind `code` to `user` (who is signed in)."""
    session = wechat.client().code_to_session(code)
    holder = db.session.scalar(select(User).where(User.wechat_openid == session.openid))
    if holder is not None and holder.id != user.id:
        raise Conflict("该微信已绑定其他账号，请先解除原绑定。", code="wechat_already_bound")
    user.wechat_openid = session.openid
    user.wechat_unionid = session.unionid
    user.wechat_session_key = session.session_key
    audit.record("auth.bind_wechat", actor=user, object_type="user", object_id=user.id, ip=ip)
