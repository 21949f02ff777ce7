"""The admin blueprint and what every admin page shares: who is signed in, CSRF, errors."""

from __future__ import annotations

import functools
from urllib.parse import quote, urlencode

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, NotFound

from server.cases import inputs, limits
from server.db import db, unit
from server.follow_through.inbox import unread_count
from server.infra import clock, nul, pageheaders
from server.infra.errors import DomainError, ValidationFailed
from server.models import Role, User

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
csrf = CSRFProtect()

# Who may use the admin at all; grid workers work from the mini program.
ADMIN_ROLES = frozenset(
    {Role.CENTER, Role.LEADER, Role.HANDLER, Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR}
)


@bp.before_request
def _load_user():
    g.user = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = db.session.get(User, user_id)
        # A disabled account or a changed password ends the session.
        if (
            user is None
            or not user.active
            or user.role not in ADMIN_ROLES
            or session.get("pwd") != user.password_changed_at.isoformat()
        ):
            session.clear()
        else:
            g.user = user
    if request.method == "POST":
        csrf.protect()
    if (
        g.user is not None
        and g.user.must_change_password
        and request.endpoint not in {"admin.change_password", "admin.logout", "admin.static"}
    ):
        # A reset password is the resetter's knowledge: the user chooses their own first.
        return redirect(url_for("admin.change_password"))
    if nul.in_request(request):  # server/infra/nul.py says why
        raise DomainError("内容不能包含空字符。", code="nul_character", http_status=422)
    return None  # on to the view


@bp.after_request
def _headers(response: Response) -> Response:
    # A view may ask for less (search: its address may hold a phone).
    referrer = g.get("referrer_policy", "same-origin")
    return pageheaders.apply(response, referrer=referrer, no_store=True)


@bp.context_processor
def _globals():
    user = g.get("user")

    def unread():
        return unread_count(user) if user else 0

    return {"user": user, "csrf_token": generate_csrf, "Role": Role, "unread": unread}


@bp.app_template_filter("localtime")
def _localtime(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time on the town's clock."""
    return clock.local(moment).strftime(fmt) if moment else ""


@bp.app_template_filter("pagequery")
def _pagequery(args, cursor: str, name: str = "after") -> str:
    """The current filters with the next page's cursor (in `name`, in place of this
    page's own: a second one would be read first, and the page would come again)."""
    pairs = [(k, v) for k, v in args.items(multi=True) if k != name]
    return urlencode([*pairs, (name, cursor)])


@bp.errorhandler(CSRFError)
def _csrf_error(error):
    return render_template(
        "admin/error.html",
        title="页面已过期",
        message="表单已过期，或不是从本系统的页面提交的，没有执行。请刷新页面后再试一次。",
    ), 400


# What an HTTP error says on the admin's pages (Werkzeug's own pages are in English).
HTTP_ERRORS = {
    400: ("请求有误", "提交的内容不完整或格式不对，请返回上一页重试。"),
    403: ("无权访问", "您的账号不能使用此页面。"),
    404: ("找不到页面", "这个网址没有对应的页面，可能输错了，或者页面已经不在了。"),
    405: ("不能这样访问", "这个网址不接受这种访问方式，请从系统的页面上操作。"),
    413: ("内容太大", "提交的内容（例如照片）太大了，请少选几张或换小一些的再试。"),
}
SORRY = ("出错了", "服务器出了点问题，请稍后再试。")


def _http_error_page(error: HTTPException) -> Response:
    title, message = HTTP_ERRORS.get(error.code or 500, SORRY)
    response = Response(
        render_template("admin/error.html", title=title, message=message), error.code or 500
    )
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """An HTTP error raised by an admin view (a 404 of a form's action, a bad upload)."""
    if isinstance(error, InternalServerError):
        # Answered without the signed-in header: its queries may be what failed.
        unit.abandon()
        g.user = None
    return _http_error_page(error)


@bp.before_app_request
def _unrouted():
    """An /admin address that matches no page, or not with this method: Flask would answer
    with Werkzeug's English page before any admin code runs; answer in Chinese instead
    (before_request functions run before the routing error is raised)."""
    failure = request.routing_exception
    if isinstance(failure, NotFound | MethodNotAllowed) and request.path.startswith(
        bp.url_prefix + "/"
    ):
        g.user = None
        return _http_error_page(failure)
    return None


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    # The request's work is rolled back: what it said it did (done()'s flash) goes too.
    session.pop("_flashes", None)
    return render_template(
        "admin/error.html", title="无法完成", message=error.message, code=error.code
    ), error.http_status


# Pages whose query may carry a phone or a name (the search box): the way back after
# signing in leaves their query out, or the login page's address would carry it into the
# proxy's log (deploy/nginx-grid-report.conf logs the search itself without its query).
_QUERY_NOT_CARRIED = frozenset({"admin.search"})


def require(*roles: Role):
    """Only signed-in users of `roles` (any admin role if none given) may open the view."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if g.user is None:
                back = request.path if request.endpoint in _QUERY_NOT_CARRIED else request.full_path
                return redirect(url_for("admin.login", next=back))
            if roles and g.user.role not in roles:
                return render_template(
                    "admin/error.html", title="无权访问", message="您的账号不能使用此页面。"
                ), 403
            return view(*args, **kwargs)

        return wrapper

    return decorate


# What each id a page reads is called where a refusal names it, beyond the names the
# inputs give their fields (inputs.LABELS: 村, 网格, …).
ID_WORDS = {
    **inputs.LABELS,
    "villages": "村",
    "department": "部门",
    "town": "镇",
    "grids": "网格",
    "before": "翻页位置",
    "after": "翻页位置",
}


def id_value(raw: str | None, name: str) -> int | None:
    """An id from a query string or a form: None when empty; ValidationFailed (a page
    saying so, 422) when it is not a whole number of a row."""
    raw = (raw or "").strip()
    if not raw:
        return None
    number = limits.id_number(raw)
    if number is None:
        raise ValidationFailed(
            f"参数“{ID_WORDS.get(name, '编号')}”须为有效的编号。",
            code="invalid_parameter",
            field=name,
        )
    return number


def attachment(name: str, fallback: str) -> dict[str, str]:
    """Headers that download a file under its Chinese name (RFC 6266's filename*), with
    an ASCII name for clients that cannot read it."""
    return {
        "Content-Disposition": f"attachment; filename={fallback}; filename*=UTF-8''{quote(name)}"
    }


def client_ip() -> str | None:
    return request.remote_addr


def done(message: str, endpoint: str, **values) -> Response:
    """After a form's work: say it was done, and show the page again (post/redirect/get;
    the work commits with the request)."""
    flash(message, "success")
    return redirect(url_for(endpoint, **values))


def refused(error: DomainError, endpoint: str, *, category: str = "error", **values) -> Response:
    """After a form the rules refused: undo what it did, say why, and show the page."""
    unit.abandon()
    flash(error.message, category)
    return redirect(url_for(endpoint, **values))
