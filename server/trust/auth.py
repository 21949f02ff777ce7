"""Who is asking: password sign-in with throttling, API tokens, WeChat binding.

Failed sign-ins are counted in the database (every worker sees the same count) three
ways, and each only ever slows the next try down, never locks an account out, so nobody
can shut `center` out of its desk by typing wrong passwords at it (MLPS level 3 asks that
failed sign-ins be limited, not that an account be lockable by anyone):

- per username and address: the one guessing at an account from one place waits longer
  and longer (up to 15 minutes a try);
- per address, whatever the usernames (a password spray): up to an hour a try;
- per username from everywhere (many addresses at one account): at most a minute a try,
  so the real user, elsewhere, waits a minute at worst while guessing stays slow; the
  security admins are told once each time an account comes under such fire.

A failed sign-in's count and audit row are kept although it fails (`LoginFailed`
keeps its work).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

import jwt
from flask import current_app
from sqlalchemy import bindparam, delete, select

from server.db import db
from server.follow_through import notifications, wechat
from server.infra import clock
from server.infra.errors import (
    Conflict,
    DomainError,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from server.models import Grid, LoginThrottle, Role, User
from server.models.organisation import user_grid
from server.trust import audit, passwords, ratelimit


@dataclass(frozen=True)
class Slowing:
    """After `after` failures each further try waits 1 s, 2 s, 4 s, ... up to `longest`."""

    after: int
    longest: timedelta

    def ready_at(self, failures: int, last_failure_at: datetime | None) -> datetime | None:
        """When the next try may be made, or None when it need not wait."""
        if failures < self.after or last_failure_at is None:
            return None
        seconds = min(self.longest.total_seconds(), 2 ** min(failures - self.after, 24))
        return last_failure_at + timedelta(seconds=seconds)


PAIR = Slowing(after=3, longest=timedelta(minutes=15))  # one username from one address
ADDRESS = Slowing(after=10, longest=timedelta(hours=1))  # a village office shares one
USERNAME = Slowing(after=5, longest=timedelta(minutes=1))  # the real user's worst wait
_VILLAGE_IDS = (
    select(Grid.village_id)
    .distinct()
    .join(user_grid, user_grid.c.grid_id == Grid.id)
    .where(user_grid.c.user_id == bindparam("user_id"))
)
# Checked against when the username is unknown, so both answers take as long.
_DUMMY_HASH = passwords.hash_password("timing-equaliser-not-a-password")


class LoginFailed(DomainError):
    """Wrong username or password (which one is not said): counted and on record."""

    code = "invalid_credentials"
    http_status = 401
    default_message = "用户名或密码错误。"
    keeps_work = True


def _throttle_key(username: str) -> str:
    # No username is longer than its column (64): a longer one is counted by its start.
    return f"user:{username.strip().lower()[:64]}"


def _address_key(ip: str) -> str:
    return f"ip:{ratelimit.anonymise(ip)}"


def _pair_key(username: str, ip: str) -> str:
    return f"pair:{ratelimit.anonymise(ip + ' ' + username.strip().lower()[:64])}"


def _counters(username: str, ip: str | None) -> list[tuple[str, Slowing, str]]:
    """(key, slowing, what the refusal says) of each count a sign-in is checked against."""
    counters = [(_throttle_key(username), USERNAME, "该账号登录失败次数较多")]
    if ip:
        counters += [
            (_pair_key(username, ip), PAIR, "登录失败次数较多"),
            (_address_key(ip), ADDRESS, "本机登录失败次数较多"),
        ]
    return counters


def check_throttle(username: str, ip: str | None = None) -> None:
    """Raise TooManyRequests when a try at this username from this address must wait:
    by this pair's failures, this address's, or this username's from everywhere (the
    longest of their waits, so a wait served is never met by another)."""
    now = clock.now()
    waits = []
    for key, slowing, said in _counters(username, ip):
        row = db.session.get(LoginThrottle, key)
        ready = slowing.ready_at(row.failures, row.last_failure_at) if row else None
        if ready is not None and ready > now:
            waits.append((ready, said))
    if waits:
        ready, said = max(waits)
        wait = int((ready - now).total_seconds()) + 1
        when = f"{wait}秒" if wait < 120 else f"{wait // 60 + 1}分钟"
        raise TooManyRequests(f"{said}，请{when}后再试。", code="login_throttled", retry_after=wait)


def authenticate(username: str, password: str, *, ip: str | None = None, roles=None) -> User:
    """The active user with this username and password; LoginFailed or TooManyRequests if not.

    On failure the failure count is in the session: the caller commits it.
    """
    check_throttle(username, ip)
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    good = passwords.verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not good or not user.active:
        _count_failure(username, user, ip)
        raise LoginFailed()
    for key, _slowing, _said in _counters(username, ip):
        if key.startswith("ip:"):
            continue  # one right password does not clear a spray from a shared address
        throttle = db.session.get(LoginThrottle, key)
        if throttle is not None:
            db.session.delete(throttle)
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


def purge_throttles(now: datetime, *, after: timedelta = timedelta(days=1)) -> int:
    """Forget failed sign-ins a day old (slowing nobody any more: the longest wait is an
    hour)."""
    return (
        db.session.execute(
            delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - after)
        ).rowcount
        or 0
    )


def _count_failure(username: str, user: User | None, ip: str | None) -> None:
    now = clock.now()
    for key, slowing, _said in _counters(username, ip):
        throttle = db.session.get(LoginThrottle, key) or LoginThrottle(key=key, failures=0)
        db.session.add(throttle)
        throttle.failures = (throttle.failures or 0) + 1
        throttle.last_failure_at = now
        if key.startswith("user:") and throttle.failures == slowing.after and user is not None:
            _tell_security_admins(user, ip)
    audit.record(
        "auth.login_failed",
        actor=None,
        object_type="user",
        object_id=user.id if user else None,
        ip=ip,
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
        username=user.username,
    )
    keepers = db.session.scalars(
        select(User).where(User.role == Role.SECURITY_ADMIN, User.active.is_(True))
    ).all()
    notifications.queue(
        list(keepers),
        "auth.slowed",
        case=None,
        title="账号登录连续失败",
        body=(
            f"账号“{user.username}”已连续{USERNAME.after}次登录失败，此后每次尝试需等待"
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
    rotate_token_secret(user)
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
        rotate_token_secret(user)
    return hashlib.sha256(user.token_secret.encode()).hexdigest()[:32]


def rotate_token_secret(user: User) -> None:
    """A new token secret: every API token issued to `user` before stops working."""
    user.token_secret = secrets.token_hex(16)


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
    return Token(jwt.encode(claims, _signing_key(), algorithm="HS256"), expires)


@functools.lru_cache(maxsize=4096)
def _verified_claims(value: str, key: bytes) -> MappingProxyType:
    """The claims of a token whose signature is good (PyJWTError if not). A token's
    signature stays good or bad, so each is checked once per process; its times are
    checked at every use, on our clock (tests move it), not the system's."""
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
    try:
        claims = _verified_claims(value, _signing_key())
    except jwt.PyJWTError:
        raise Unauthorized("登录凭证无效，请重新登录。", code="token_invalid") from None
    if claims.get("typ") != "api" or not str(claims["sub"]).isdigit():
        raise Unauthorized("登录凭证无效，请重新登录。", code="token_invalid")
    if claims["exp"] <= clock.now().timestamp():
        raise Unauthorized("登录已过期，请重新登录。", code="token_expired")
    user = db.session.get(User, int(claims["sub"]))
    if (
        user is None
        or not user.active
        or not user.token_secret
        or not hmac.compare_digest(str(claims["sec"]), _secret_digest(user))
    ):
        raise Unauthorized("登录凭证已失效，请重新登录。", code="token_revoked")
    _load_villages(user)
    return user


def _load_villages(user: User) -> None:
    """Tell `user` their villages now: every access check of a grid worker asks for them.

    Read afresh (an admin may have just changed them) with one small query, and kept on
    the user for this request (`User.village_ids`); their grids load only if asked for.
    """
    if user.role == Role.GRID_WORKER:
        user.known_village_ids = set(
            db.session.connection().execute(_VILLAGE_IDS, {"user_id": user.id}).scalars()
        )


def sign_out(user: User, *, ip: str | None = None) -> None:
    """Take back every token `user` holds (tokens are signed, not stored: the secret
    each one carries a digest of is replaced). A phone left in a village office signs
    out everywhere."""
    rotate_token_secret(user)
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
