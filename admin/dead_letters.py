"""Dead letters (发送失败): messages the sender gave up on, and putting them back.

The system admin (who runs the machine) and the mediation center (whose people the
messages were for) see each one's time, channel, recipient, the case's number, its
attempts and why it failed, in words; the informant is never among the recipients, and
no message's text is shown. A resend goes through server/follow_through/notifications.py
(`resend_dead`, audited).
"""

from __future__ import annotations

from flask import g, render_template, request
from sqlalchemy import select

from admin.blueprint import bp, client_ip, done, id_value, require
from server.cases import access
from server.db import db
from server.follow_through import notifications
from server.infra import codes
from server.models import Case, Role, User

DEAD_LETTER_ROLES = (Role.ADMIN, Role.CENTER)

CHANNELS = {"inbox": "站内消息", "wechat": "微信订阅消息", "sms": "短信"}
# Why a message failed, as the sender stored it (an error's code or class).
ERRORS = {
    "wechat_unavailable": "微信服务连不上或拒收",
    "wechat_token_expired": "微信凭证过期",
    "wechat_no_consent": "对方未同意接收",
    "ConnectionError": "网络不通",
    "Timeout": "连接超时",
    "ConnectTimeout": "连接超时",
    "ReadTimeout": "等待答复超时",
}


def error_words(code: str | None) -> str:
    """Why a message failed, in words (its stored code stays in the page's tooltip)."""
    if not code:
        return "—"
    if code.lstrip("-").isdigit():
        return f"微信返回错误（错误码 {code}）"
    return ERRORS.get(code, "发送出错（详见服务器日志）")


@bp.get("/dead-letters")
@require(*DEAD_LETTER_ROLES)
def dead_letters():
    """The dead letters, newest first, each with a button to send it again."""
    notes = notifications.dead_letters(g.user)
    people = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({n.user_id for n in notes})))
    }
    # A case's number is the center's to read, through the one access policy: the system
    # admin, who reads no case, sees only that a message concerned one.
    cases: dict[int, str] = {}
    if g.user.role == Role.CENTER:
        case_ids = {n.case_id for n in notes if n.case_id}
        cases = dict(
            db.session.execute(
                select(Case.id, Case.code).where(Case.id.in_(case_ids), access.case_filter(g.user))
            ).all()
        )
    return render_template(
        "admin/dead_letters.html",
        notes=notes,
        people=people,
        cases=cases,
        channels=CHANNELS,
        error_words=error_words,
        display=codes.display,
    )


@bp.post("/dead-letters/resend")
@require(*DEAD_LETTER_ROLES)
def resend_dead_letters():
    """Send one dead letter again (`id`), or every one listed (`all`)."""
    if request.form.get("all"):
        ids = [n.id for n in notifications.dead_letters(g.user)]
    else:
        ids = [id_value(request.form.get("id"), "id")]
    count = notifications.resend_dead(
        [i for i in ids if i is not None], actor=g.user, ip=client_ip()
    )
    message = f"已重新排队 {count} 条消息，稍后由系统发送。" if count else "没有需要重发的消息。"
    return done(message, "admin.dead_letters")
