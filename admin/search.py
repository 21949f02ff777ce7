"""Search (查找): the header's box, its results, and a case number going straight to the case."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from admin.blueprint import bp, id_value, require
from admin.cases import CASE_ROLES
from server.cases import search as finder
from server.infra import codes
from server.infra.errors import ValidationFailed


@bp.get("/search")
@require(*CASE_ROLES)
def search():
    """The cases the user finds with `q`, a page at a time; one case number opens it."""
    # The query may be a phone or a name: no page it leads to may pass it on (Referer).
    g.referrer_policy = "no-referrer"
    query = request.args.get("q", "")
    try:
        results = finder.search(g.user, query, after=id_value(request.args.get("after"), "after"))
    except ValidationFailed as error:
        return render_template("admin/search.html", query=query.strip(), error=error.message)
    if results.direct is not None:
        return redirect(url_for("admin.case_page", code=results.direct.code))
    return render_template(
        "admin/search.html", query=results.query, results=results, display=codes.display
    )
