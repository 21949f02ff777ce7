"""/q/<token> (report), /t (follow a report), and a village's QR code and poster."""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    RequestEntityTooLarge,
)

from server.cases import inputs, media, operations, tracking, workflow
from server.db import db, unit
from server.figures import disclosure as monthly_disclosure
from server.figures import statistics
from server.infra import clock, codes, nul, pageheaders
from server.infra.errors import DomainError, NotFound, PayloadTooLarge, TooManyRequests
from server.models import Category, CategoryGroup, Step, Town, Village
from server.organisation import qr, reference
from server.organisation.deadlines import Deadlines, parse_duration
from server.trust import ratelimit

bp = Blueprint(
    "villager",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/villager",
)

MAX_PHOTOS = 3
GROUP_ORDER = [
    CategoryGroup.DISPUTE,
    CategoryGroup.SECURITY_HAZARD,
    CategoryGroup.SAFETY_HAZARD,
    CategoryGroup.ENFORCEMENT,
]


@bp.after_request
def _headers(response: Response) -> Response:
    # The tracking link is a secret in the URL: never sent on as a Referer, never cached;
    # and a shared phone's back button must not bring back someone else's form or code.
    return pageheaders.apply(
        response, referrer="no-referrer", no_store=request.path.startswith(("/t", "/q"))
    )


# A report refused for these reasons comes back as the form, with what was typed in it.
FORM_AGAIN = frozenset({413, 415, 422, 429, 500, 503})


@bp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    if request.endpoint == "villager.submit" and error.http_status in FORM_AGAIN:
        return _form_again(error)
    return _error_page(error)


def _error_page(error: DomainError) -> Response:
    """A page that says why, in the town's name when the database can still say it."""
    template = {410: "villager/replaced.html", 429: "villager/limited.html"}.get(
        error.http_status, "villager/error.html"
    )
    try:
        town = _town()
    except Exception:  # the failure being answered may be the database's own
        unit.abandon()
        town = None
    return _with_retry_after(
        Response(render_template(template, error=error, town=town), status=error.http_status),
        error,
    )


@bp.errorhandler(Exception)
def _our_fault(failure: Exception):
    """A failure of ours on these pages: logged (with no statement values:
    hide_parameters), and answered in Chinese: a report's form comes back with what was
    typed, any other page says sorry, rather than a bare 500. An HTTP error (a 405 of
    a saved link) gets a page of its own."""
    if isinstance(failure, HTTPException) and not isinstance(failure, InternalServerError):
        return http_error_page(failure)
    current_app.logger.exception("villager page failed (%s)", request.endpoint)
    if request.endpoint != "villager.submit":
        return _error_page(DomainError(SORRY, code="server_error", http_status=500))
    return _form_again(
        DomainError(
            "服务器出了点问题，报告没有提交成功。您填写的内容还在，请稍后再点“提交”。",
            code="server_error",
            http_status=500,
        )
    )


SORRY = "服务器出了点问题，请稍后再试。"

# What an HTTP error means to someone holding a phone, not a browser's words for it.
HTTP_WORDS = {
    404: "找不到这个页面，请核对网址，或从首页重新进入。",
    405: "不能这样打开这个页面，请从页面上的链接或按钮进入。",
}


def http_error_page(error: HTTPException) -> Response:
    """An HTTP error (a mistyped address, a saved link to a form's action) as a page in
    Chinese: for these pages, and for every address outside the admin and the API
    (`init_app`), where Werkzeug's own page is English."""
    words = HTTP_WORDS.get(error.code or 500, "请求没有完成，请稍后再试。")
    response = _error_page(DomainError(words, code="http_error", http_status=error.code or 500))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _with_retry_after(response: Response, error: DomainError) -> Response:
    if "retry_after" in error.details:
        response.headers["Retry-After"] = str(error.details["retry_after"])
    return response


@bp.before_request
def _refuse_nul():
    if request.endpoint == "villager.submit":
        # A few photos at once, each as large as the API takes one (nginx's site agrees).
        request.max_content_length = form_bound(current_app.config)
    if nul.in_request(request):  # server/infra/nul.py says why
        raise DomainError("内容不能包含空字符。", code="nul_character", http_status=422)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_error):
    # The body was not read, so there is no form to give back: a page that says why.
    return _error_page(PayloadTooLarge("照片太大了，请少选几张或换一张再试。"))


def _town(village: Village | None = None) -> Town | None:
    """The town whose name and hotline a page shows: the village's, when the page is about
    one; else the town, where the deployment holds one; else none (a district's front
    door or lookup is no one town's, and its first town's hotline is not the caller's)."""
    if village is not None:
        return village.town
    towns = db.session.scalars(select(Town).order_by(Town.id).limit(2)).all()
    return towns[0] if len(towns) == 1 else None


def _client() -> str:
    return ratelimit.anonymise(request.remote_addr or "unknown")


def _categories() -> list[tuple[CategoryGroup, list[Category]]]:
    rows = db.session.scalars(
        select(Category)
        .where(Category.active.is_(True))
        .order_by(Category.sort_order, Category.code)
    ).all()
    return [(group, [c for c in rows if c.group == group]) for group in GROUP_ORDER]


def _accept_promise(case) -> str:
    _warn, due = Deadlines(reference.calendar).limits(
        case.category, Step.ACCEPT, town_id=case.town_id, urgent=case.urgent
    )
    return parse_duration(due).label


@bp.get("/")
def home():
    """The front door: where each kind of user goes (a demo village's form, in development)."""
    demo_village = None
    if current_app.config["ENV"] != "production":
        demo_village = db.session.scalar(select(Village).order_by(Village.code).limit(1))
    return render_template("villager/home.html", town=_town(), demo_village=demo_village)


@bp.get("/favicon.ico")
def favicon():
    """The tab's icon (browsers ask for it at the root)."""
    return bp.send_static_file("favicon.ico")


@bp.get("/q/<token>")
def report_form(token: str):
    """Step 1: choose the kind of problem; step 2 (?kind=CODE): describe it."""
    village = qr.resolve(token)
    kind = request.args.get("kind")
    category = None
    if kind:
        category = db.session.scalar(
            select(Category).where(Category.code == kind, Category.active.is_(True))
        )
        if category is None:
            raise NotFound("没有这一类问题，请返回重新选择。")
    return render_template(
        "villager/report.html",
        village=village,
        token=token,
        category=category,
        groups=_categories(),
        town=_town(village),
        form_key=str(uuid.uuid4()),
        values={},
        error=None,
        max_photos=MAX_PHOTOS,
    )


def form_bound(config) -> int:
    """The largest villager's form taken: its photos at their bound, and the text."""
    return MAX_PHOTOS * int(config["MEDIA_MAX_BYTES"]) + 256 * 1024


def _typed() -> dict:
    """What the villager typed into the report form."""
    form = request.form
    values = {k: form.get(k, "") for k in ("description", "place_text", "name", "phone")}
    values["anonymous"] = form.get("anonymous", "yes") != "no"
    values["happening_now"] = form.get("happening_now") == "yes"
    return values


def _form_category() -> Category:
    # From the reference copy, with its time limits: the report's clock needs them, and
    # read from the database they were a query more on every villager's report.
    category = reference.category(request.form.get("kind", ""))
    if category is None:
        raise NotFound("没有这一类问题，请返回重新选择。")
    return category


def _form_key() -> str:
    try:
        return str(uuid.UUID(request.form.get("form_key", "")))
    except ValueError:
        raise DomainError("表单已过期，请返回重新填写。", code="form_expired") from None


def _form_again(error: DomainError) -> Response:
    """The report form again, with what was typed in it and why it was refused (the
    request's work is rolled back already); when the form itself cannot be drawn again
    (its village, kind or key are what failed), a page that says why."""
    token = request.view_args["token"]
    try:
        village = qr.resolve(token)
        page = render_template(
            "villager/report.html",
            village=village,
            token=token,
            category=_form_category(),
            groups=_categories(),
            town=_town(village),
            form_key=_form_key(),
            values=_typed(),
            error=error,
            max_photos=MAX_PHOTOS,
        )
    except Exception:
        current_app.logger.exception("villager form could not be drawn again")
        return _error_page(error)
    return _with_retry_after(Response(page, status=error.http_status), error)


@bp.post("/q/<token>")
def submit(token: str):
    """Take the report; answer with its tracking code (the same one for a resend). A
    refusal answers with the form again (`_form_again`)."""
    village = qr.resolve(token)
    category = _form_category()
    if request.form.get("website"):  # a field people never see: only robots fill it in
        raise DomainError("提交失败，请稍后再试。", code="rejected", http_status=422)
    key = _form_key()
    values = _typed()
    anonymous = values["anonymous"]
    draft = inputs.load(
        inputs.VILLAGER_REPORT,
        {
            "category": category.code,
            "description": values["description"],
            "place_text": values["place_text"] or None,
            "happening_now": values["happening_now"],
            "reporter": {
                "anonymous": anonymous,
                "name": None if anonymous else values["name"] or None,
                "phone": None if anonymous else values["phone"] or None,
            },
        },
    )
    draft.village = village
    held = False
    # A resend (its answer lost on the way) is answered with its tracking code before
    # anything else: it uses up none of the limits (ten an hour from an address a whole
    # village may share behind the carrier's NAT), and no photo is processed again.
    if operations.find_villager_report(operations.villager_form_key(key, draft)) is None:
        ratelimit.check("QR_SUBMIT_LIMIT_PER_ADDRESS", _client())
        try:
            ratelimit.check("QR_SUBMIT_LIMIT_PER_VILLAGE", village.code)
        except TooManyRequests:
            # 120 posts from 120 addresses must not silence a village (the next one may
            # be a real drug report): past its limit, a report is taken and held apart.
            held = True
        uploads = [f for f in request.files.getlist("photos") if f and f.filename]
        draft.photos = media.store_photos([f.read() for f in uploads[:MAX_PHOTOS]], uploader=None)
    case, secret, resent = operations.submit_villager_report(draft, idempotency_key=key, held=held)
    link = url_for("villager.track", secret=secret, _external=False)
    return render_template(
        "villager/submitted.html",
        case=case,
        village=village,
        secret=tracking.display(secret),
        link=link,
        resent=resent,
        public_url=qr.public_base_url(),
        promise=_accept_promise(case),
        town=_town(village),
    )


@bp.route("/t", methods=["GET", "POST"])
def track_lookup():
    """Type in a tracking code."""
    if request.method == "POST":
        secret = codes.normalise(request.form.get("code", ""))
        if not secret:  # only spaces or dashes: no address to go to
            page = render_template("villager/lookup.html", town=_town(), error="请输入跟踪码。")
            return page, 422
        return redirect(url_for("villager.track", secret=secret), code=303)
    return render_template("villager/lookup.html", town=_town())


def _tracked(secret: str):
    ratelimit.check("TRACKING_LIMIT_PER_ADDRESS", _client())
    case = tracking.find(secret)
    if case is None:
        raise NotFound("没有找到这个跟踪码对应的报告，请核对后重新输入。", code="tracking_unknown")
    return case


@bp.get("/t/<secret>")
def track(secret: str):
    """The report's status and public timeline; forms to add information or answer."""
    case = _tracked(secret)
    status_code, status_label = workflow.public_status(case)
    # A report merged into another follows it: the surviving case's progress.
    lives_on = workflow.survivor(case)
    return render_template(
        "villager/track.html",
        case=case,
        status_code=status_code,
        status_label=status_label,
        timeline=workflow.public_timeline(case),
        secret=secret,
        town=_town(case.village),
        satisfaction=workflow.SATISFACTION,
        # Each form sent again (its answer lost) finds what it did: see apply_as_reporter.
        form_key=uuid.uuid4(),
        **workflow.reporter_may(case),
        survivor_timeline=workflow.public_timeline(lives_on, of_survivor=True)
        if lives_on is not case
        else None,
    )


@bp.post("/t/<secret>/info")
def add_info(secret: str):
    """The villager adds information to their report."""
    case = _tracked(secret)
    workflow.apply_as_reporter(
        case, "add_info", text=request.form.get("text"), form_key=request.form.get("form_key")
    )
    return redirect(url_for("villager.track", secret=secret), code=303)


@bp.post("/t/<secret>/feedback")
def answer(secret: str):
    """The villager says whether they are satisfied with how it was handled."""
    case = _tracked(secret)
    workflow.apply_as_reporter(
        case,
        "answer_follow_up",
        satisfaction=request.form.get("satisfaction") or None,
        text=request.form.get("text"),
        form_key=request.form.get("form_key"),
    )
    return redirect(url_for("villager.track", secret=secret), code=303)


@bp.post("/t/<secret>/complaint")
def complain(secret: str):
    """The villager says the problem is not solved (不满意重办): the center reviews it."""
    case = _tracked(secret)
    workflow.apply_as_reporter(
        case, "complain", text=request.form.get("text"), form_key=request.form.get("form_key")
    )
    return redirect(url_for("villager.track", secret=secret), code=303)


@bp.get("/q/<token>/qr.png")
def qr_png(token: str):
    """The village's QR code (PNG)."""
    village = qr.resolve(token)
    return Response(
        qr.png(village),
        mimetype="image/png",
        headers={"Content-Disposition": f'inline; filename="{village.code}.png"'},
    )


@bp.get("/q/<token>/qr.svg")
def qr_svg(token: str):
    """The village's QR code (SVG)."""
    village = qr.resolve(token)
    return Response(
        qr.svg(village),
        mimetype="image/svg+xml",
        headers={"Content-Disposition": f'inline; filename="{village.code}.svg"'},
    )


@bp.get("/q/<token>/poster")
def poster(token: str):
    """A printable A4 poster for the village (the token is on the poster anyway)."""
    village = qr.resolve(token)
    return render_template(
        "villager/poster.html",
        villages=[village],
        town=_town(village),
        qr_svg=qr.svg,
        url_of=qr.village_url,
        inline_css=False,
    )


@bp.get("/disclosure")
@bp.get("/disclosure/<int:year>-<int:month>")
def disclosure(year: int | None = None, month: int | None = None):
    """每月一公开: the month's aggregate figures, public, with no case detail: a town's
    own (?town=<id>) where the deployment holds several, which a page without a town
    lets the reader choose."""
    today = clock.local(clock.now()).date()
    if year is None:  # the last full month
        first = today.replace(day=1)
        year, month = (first.year - 1, 12) if first.month == 1 else (first.year, first.month - 1)
    if not 1 <= (month or 0) <= 12 or not 2000 <= year <= 2100:
        raise NotFound("没有这个月份。")
    period = statistics.month(year, month)
    towns = db.session.scalars(select(Town).order_by(Town.id)).all()
    town = towns[0] if len(towns) == 1 else None
    if town is None:
        town = next((t for t in towns if str(t.id) == request.args.get("town")), None)
        if town is None and request.args.get("town"):
            raise NotFound("没有这个镇。")
        if town is None:
            return render_template("villager/disclosure_towns.html", towns=towns, period=period)
    ratelimit.check("DISCLOSURE_LIMIT_PER_ADDRESS", _client())
    figures = monthly_disclosure.disclosure(
        period,
        threshold=int(current_app.config["DISCLOSURE_MIN_COUNT"]),
        town_id=town.id,
    )
    return render_template("villager/disclosure.html", d=figures, town=town)


def init_app(app) -> None:
    """Register the villagers' pages; their error page answers every address that no
    surface answers (miniprogram_api.api.Api.handle_http_exception asks for it)."""
    app.register_blueprint(bp)
    app.extensions["html_error_page"] = http_error_page
