"""The phone surface: the mini program's JSON API (/api/v1) and the villagers' QR pages."""

from flask import Blueprint, Flask

bp = Blueprint("miniprogram_api", __name__, url_prefix="/api/v1")


def init_app(app: Flask) -> None:
    """Register the API (built in a later issue)."""
    app.register_blueprint(bp)
