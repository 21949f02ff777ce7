"""台账: the four ledgers and the report workbook, downloaded for any period.

A ledger is made in the background with its progress shown (server/figures/exports.py);
the finished file is streamed once, named in Chinese with its period, and each download
is audited. Ledgers name parties: the center and leaders only (the three duties read no
case content).
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, send_file, url_for

from admin.blueprint import attachment, bp, client_ip, require
from server.figures import exports, ledgers, statistics
from server.models import Role
from server.trust import audit

LEDGER_ROLES = (Role.CENTER, Role.LEADER)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _period(args) -> statistics.Period:
    return statistics.parse_period(
        args.get("kind", "month"),
        args.get("value", ""),
        start=args.get("from", ""),
        end=args.get("to", ""),
    )


@bp.get("/ledgers")
@require(*LEDGER_ROLES)
def ledgers_page():
    """Choose a ledger and a period."""
    period = _period(request.args)
    return render_template(
        "admin/ledgers.html",
        period=period,
        args=request.args,
        kinds=[(kind, ledgers.KINDS[kind][0]) for kind in exports.NAMES],
        filename=exports.filename,
    )


@bp.post("/ledgers")
@require(*LEDGER_ROLES)
def ledger_start():
    """Start making one ledger; its page shows the progress."""
    period = _period(request.form)
    token = exports.start(request.form.get("ledger", ""), period, user_id=g.user.id)
    return redirect(url_for("admin.ledger_export", token=token), code=303)


@bp.get("/ledgers/<token>")
@require(*LEDGER_ROLES)
def ledger_export(token: str):
    """An export's progress; the file's link when it is done."""
    status = exports.status(token, user_id=g.user.id)
    return render_template("admin/ledger_export.html", status=status, token=token)


@bp.get("/ledgers/<token>/status")
@require(*LEDGER_ROLES)
def ledger_status(token: str):
    """The progress, for the page's script."""
    status = exports.status(token, user_id=g.user.id)
    return {
        "state": status.state,
        "done": status.done,
        "total": status.total,
        "percent": status.percent,
    }


@bp.get("/ledgers/<token>/file")
@require(*LEDGER_ROLES)
def ledger_file(token: str):
    """The finished ledger, streamed once."""
    status, opened = exports.take(token, user_id=g.user.id)
    # A ledger carries parties' names: who took which one is on the audit log.
    audit.record(
        "ledger.exported",
        actor=g.user,
        object_type="ledger",
        object_id=status.kind,
        ip=client_ip(),
        period=status.period,
        rows=status.done,
        via="web",
    )
    response = send_file(opened, mimetype=XLSX, as_attachment=False, conditional=False)
    response.headers.update(attachment(status.filename, f"ledger-{status.kind}.xlsx"))
    return response
