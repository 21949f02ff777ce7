"""The phone surface: the mini program's JSON API (/api/v1), which the workbench uses too.

Views parse and authenticate, call one operation in `server`, and serialise; every rule
about cases is the core's.
"""

from __future__ import annotations

from flask import Flask, request

from miniprogram_api.api import PREFIX, SPEC_INFO, Api, handle_domain_error
from miniprogram_api.auth.resources import bp as auth_bp
from miniprogram_api.casefile.resources import bp as casefile_bp
from miniprogram_api.casefile.resources import scans_bp as casefile_scans_bp
from miniprogram_api.cases.resources import bp as cases_bp
from miniprogram_api.docs import bp as docs_bp
from miniprogram_api.inbox.resources import bp as inbox_bp
from miniprogram_api.media.resources import bp as media_bp
from miniprogram_api.notices.resources import bp as notices_bp
from miniprogram_api.qr.resources import bp as qr_bp
from miniprogram_api.reference.resources import bp as reference_bp
from miniprogram_api.screenings.resources import bp as screenings_bp
from miniprogram_api.todo.resources import bp as todo_bp
from server.infra.errors import DomainError


def _not_stored(response):
    """An API answer may carry an informant's identity or a case: no cache keeps it, on
    the phone or on the way (a photo or the docs' files set their own caching)."""
    if request.path.startswith(PREFIX) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the API, its docs and its error handling."""
    app.config.setdefault("API_TITLE", "grid-report 小程序接口")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # The docs page is ours, in Chinese (miniprogram_api/docs.py), not Swagger UI's.
    api = Api(app, spec_kwargs={"info": SPEC_INFO})  # one per app: it holds the app's spec
    app.extensions["grid_report_api"] = api
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blueprint in (
        auth_bp,
        reference_bp,
        cases_bp,
        casefile_bp,
        casefile_scans_bp,
        media_bp,
        qr_bp,
        notices_bp,
        screenings_bp,
        todo_bp,
        inbox_bp,
    ):
        api.register_blueprint(blueprint)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_blueprint(docs_bp)
    app.after_request(_not_stored)
