"""The mediation center's web admin (/admin): server-rendered pages over `server`."""

from flask import Blueprint, Flask

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


def init_app(app: Flask) -> None:
    """Register the admin's pages (built in a later issue)."""
    app.register_blueprint(bp)
