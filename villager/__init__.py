"""The villagers' pages: the report form a village's QR code opens (/q/<token>), the
tracking page (/t), the village's QR code and poster, the front door (/) and the
month's public figures (/disclosure). Plain server-rendered pages that work without
JavaScript, in WeChat's browser or any phone's; no account, anonymous by default.
"""

from villager.views import init_app

__all__ = ["init_app"]
