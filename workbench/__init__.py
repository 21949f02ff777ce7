"""The phone workbench (手机工作台) at /m/: grid workers, village mediators, legal advisors
and department handlers work from it in WeChat's, WeCom's or any phone browser.

One page and two scripts, served by the app (no CDN, no build step); it talks to the
JSON API at /api/v1 only, as the mini program will, so both follow one set of rules.
"""

from __future__ import annotations

from flask import Blueprint, Flask, make_response, render_template

from server.infra import pageheaders

bp = Blueprint(
    "workbench",
    __name__,
    url_prefix="/m",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# Photos chosen on the phone are previewed from blob: addresses before they are sent.
IMAGES = "'self' data: blob:"


@bp.get("/")
def shell():
    """The workbench's page: every screen is drawn by workbench.js from the API."""
    response = make_response(render_template("workbench/index.html"))
    return pageheaders.apply(response, referrer="no-referrer", no_store=True, images=IMAGES)


def init_app(app: Flask) -> None:
    """Serve the workbench (it needs the API and the villagers' pages for its photo
    shrinking script: SURFACES lists both before it)."""
    app.register_blueprint(bp)
