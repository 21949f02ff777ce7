"""Configuration: typed defaults, then the environment, then the caller's overrides."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from zoneinfo import ZoneInfo

# Values a deployment must never run with: a secret anyone can read in this repository.
INSECURE_SECRETS = frozenset({"", "dev", "change-me", "dev-insecure-secret-key"})
DEV_SECRET_KEY = "dev-insecure-secret-key"  # noqa: S105 - refused in production


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to set."""


# name -> (default, parser). Defaults are safe for a developer's machine; production
# (ENV=production) must set what `validate` asks for.
DEFAULTS: dict[str, tuple[object, object]] = {
    "ENV": ("development", str),
    "SECRET_KEY": (DEV_SECRET_KEY, str),
    "DATABASE_URL": (None, str),  # None: an SQLite file in the instance folder
    "TIMEZONE": ("Asia/Shanghai", str),
    "SQLITE_BUSY_TIMEOUT_MS": (15000, int),
    # How long a process keeps its copy of categories, villages, grids and the calendar's
    # corrections (server/organisation/reference.py); an admin's edit is seen by the others
    # this late.
    "REFERENCE_CACHE_SECONDS": (10.0, float),
    "DEMO_PASSWORD": ("Demo@2026", str),
    "TOWN_NAME": ("大钟庄镇", str),
    # The character in the document and archive numbers of the deployment's own town
    # (the one named TOWN_NAME, else the first: 〔2026〕大调字第15号), unless its town file
    # names one (文号简称); empty: the first character of the town's name, as for every
    # other town of a district.
    "DOCUMENT_NUMBER_PREFIX": ("", str),
    # The Chinese font embedded in case-file PDFs: the first of these files that exists
    # (comma-separated; .ttf or .ttc with TrueType outlines). Debian: fonts-wqy-microhei.
    "CASEFILE_FONT_PATHS": (
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc,"
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc,"
        "/usr/share/fonts/truetype/arphic/uming.ttc",
        str,
    ),
    # Rare characters of names (𠮷, 䶮: CJK Extensions A and B) that the font above lacks
    # come from these (Debian's fonts-hanazono), loaded only for a file that needs them.
    "CASEFILE_FALLBACK_FONT_PATHS": (
        "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf,"
        "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
        str,
    ),
    "SURFACES": ("admin,miniprogram_api,villager,workbench", str),
    # An API token lives a day; a phone in use renews it (POST /api/v1/auth/refresh).
    "TOKEN_TTL_SECONDS": (24 * 3600, int),
    # WeChat: "live" talks to WECHAT_API_BASE; "fake" answers locally (offline `make run`);
    # "off" refuses WeChat sign-in. Default: fake in development, off in production.
    "WECHAT_MODE": (None, str),
    "WECHAT_API_BASE": ("https://api.weixin.qq.com", str),
    "WECHAT_APPID": ("", str),
    "WECHAT_SECRET": ("", str),
    # The town's official account (公众号), whose menu opens the phone workbench /m/ and
    # signs a bound user in by web authorization; unset: sign in with a password only.
    "WECHAT_OA_APPID": ("", str),
    "WECHAT_OA_SECRET": ("", str),
    "WECHAT_TIMEOUT_SECONDS": (5.0, float),
    # The subscribe-message template for case updates (from the mini program's console).
    "WECHAT_TEMPLATE_ID": ("", str),
    # Photos: stored outside the static folder; bounded in bytes and in pixels.
    # The address villagers' phones reach the app at: what QR codes and links encode.
    # Required in production; in development, the address the page was asked at (or
    # 127.0.0.1 and PORT, outside a request: server.organisation.qr.public_base_url).
    "PUBLIC_BASE_URL": ("", str),
    # How many proxies (nginx) stand in front and set X-Forwarded-For/-Proto: 1 behind
    # deploy/nginx-grid-report.conf. 0 trusts no such header (a client could forge it).
    "PROXY_COUNT": (0, int),
    # Rate limits ("N/period") for the villagers' pages, counted per client address and
    # per village; shared across workers when RATELIMIT_STORAGE_URI is redis://...
    "RATELIMIT_STORAGE_URI": ("memory://", str),
    "QR_SUBMIT_LIMIT_PER_ADDRESS": ("10/hour", str),
    "QR_SUBMIT_LIMIT_PER_VILLAGE": ("120/hour", str),
    "TRACKING_LIMIT_PER_ADDRESS": ("60/hour", str),
    # A town's public month is counted from its cases when asked (up to 0.3 s at ten
    # million cases): an address asks for so many an hour.
    "DISCLOSURE_LIMIT_PER_ADDRESS": ("60/hour", str),
    "MEDIA_ROOT": (None, str),
    # Where `grid-report backup` (without a folder) and `db upgrade`'s backup before it
    # migrates put their archives; None: instance/backups.
    "BACKUP_DIR": (None, str),
    # Screening duty (排查): at least this many per village per week and per month.
    "SCREENINGS_PER_WEEK": (1, int),
    "SCREENINGS_PER_MONTH": (2, int),
    # The public monthly figures show no count below this (a person could be recognised).
    "DISCLOSURE_MIN_COUNT": (5, int),
    # A dispute between the same parties within this many months of an earlier one is a
    # repeat dispute (重复纠纷), flagged for the center: an early warning of 民转刑.
    "REPEAT_DISPUTE_MONTHS": (12, int),
    # The web admin: a session ends after this long without a request.
    "ADMIN_IDLE_MINUTES": (30, int),
    # ... and however busy, it ends this long after sign-in (an absolute lifetime).
    "ADMIN_SESSION_HOURS": (12, int),
    "MEDIA_MAX_BYTES": (10 * 1024 * 1024, int),
    "MEDIA_MAX_PIXELS": (50_000_000, int),
    # What one image may take once decoded (after a JPEG's reduced-scale decode), and how
    # many a worker decodes at once: an upload never costs much more than 100 MB.
    # Keys that seal informants' identities (server/trust/identity.py): comma-separated Fernet
    # keys, the first seals; required in production. IDENTITY_RETENTION_DAYS: an ended
    # case's informant identity is forgotten this long after (the archive rule).
    "IDENTITY_KEYS": ("", str),
    "IDENTITY_RETENTION_DAYS": (1095, int),
    # Stored answers of Idempotency-Key requests are kept this long, then purged.
    "IDEMPOTENCY_KEEP_HOURS": (72, int),
    # The audit log is kept this long (GB/T 22239 level 3: at least six months).
    "AUDIT_RETENTION_DAYS": (365, int),
    "MEDIA_MAX_DECODED_BYTES": (40 * 1024 * 1024, int),
    "MEDIA_DECODES_PER_WORKER": (2, int),
    # 1920 px: enough to read a licence plate or a crack, and a 12-megapixel photo
    # (4000 px) decodes at half scale.
    "MEDIA_MAX_SIDE": (1920, int),
    # A photo uploaded from a phone that no report or step claims within this many days
    # (a draft given up) is deleted by the sweep, its file with it.
    "MEDIA_UNCLAIMED_DAYS": (7, int),
    # Watching it: logs as plain text or JSON lines (server/logs.py); who may read
    # /metrics (addresses or networks, comma-separated; also every address a request was
    # forwarded for) and the bearer token it then also asks for, if set (server/metrics.py);
    # /healthz answers 503 when the sweep or the sender last succeeded longer ago than
    # this, or a disk of ours has less free space than this (server/health.py).
    "LOG_FORMAT": ("text", str),
    "METRICS_ALLOW": ("127.0.0.0/8,::1", str),
    "METRICS_TOKEN": ("", str),
    "HEALTH_STALE_SECONDS": (300, int),
    "HEALTH_MIN_FREE_MB": (1024, int),
}


def instance_path() -> str:
    """The instance folder (the SQLite database, photos, backups): INSTANCE_PATH, else
    ./instance."""
    return os.environ.get("INSTANCE_PATH") or str(Path.cwd() / "instance")


def load(instance_path: str, overrides: dict | None = None) -> dict:
    """Return the configuration mapping for an app whose instance folder is `instance_path`."""
    config: dict[str, object] = {}
    for name, (default, parse) in DEFAULTS.items():
        raw = os.environ.get(name)
        config[name] = parse(raw) if raw is not None else default
    config.update(overrides or {})

    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = "sqlite:///" + str(Path(instance_path) / "grid-report.sqlite3")
    config["DATABASE_URL"] = _anchored(str(config["DATABASE_URL"]), instance_path)
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    # A server's connection can be dropped while it idles in the pool (a restart, a
    # firewall): test it on checkout. An SQLite file cannot be, and a ping is a statement.
    # hide_parameters: a failing statement's error (and so the log's traceback) never
    # carries its values, which may be an informant's name and phone.
    server = not str(config["DATABASE_URL"]).startswith("sqlite")
    options = {"pool_pre_ping": server, "hide_parameters": True}
    if server:
        # PostgreSQL compiles (JIT) a statement its planner thinks dear before running it:
        # at a million cases, 17-18 ms of a grid worker's list that found nothing (0.03 ms
        # without), and none of the figures' statements ran faster with it. Off for the
        # app's connections, as for most short-statement workloads.
        options["connect_args"] = {"options": "-c jit=off"}
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    config["TZ"] = ZoneInfo(str(config["TIMEZONE"]))
    if config["WECHAT_MODE"] is None:
        config["WECHAT_MODE"] = "off" if config["ENV"] == "production" else "fake"
    if not config["MEDIA_ROOT"]:
        config["MEDIA_ROOT"] = str(Path(instance_path) / "media")
    if not config["BACKUP_DIR"]:
        config["BACKUP_DIR"] = str(Path(instance_path) / "backups")
    # Admin cookies only over HTTPS in production (nginx terminates TLS).
    config.setdefault("SESSION_COOKIE_SECURE", config["ENV"] == "production")
    # Request bounds: one photo and a few form fields per request (the villager's form,
    # which takes a few photos at once, widens its own: villager/views.py).
    config.setdefault("MAX_CONTENT_LENGTH", int(config["MEDIA_MAX_BYTES"]) + 64 * 1024)
    config.setdefault("MAX_FORM_PARTS", 200)
    # Werkzeug's multipart parser holds what the socket handed it, file data included,
    # against this bound: at 64 kB a real server refused every photo over a few hundred
    # kB, though the test client passed (it feeds the parser small pieces). Text fields
    # are bounded by the core's own checks; this only bounds the parser's buffer.
    config.setdefault("MAX_FORM_MEMORY_SIZE", 1024 * 1024)
    validate(config)
    return config


def _anchored(url: str, instance_path: str) -> str:
    """An SQLite file named by a relative path, as one in the instance folder: where
    Flask-SQLAlchemy opens it (its `_apply_driver_defaults`, whose rule this repeats, a
    driver-level `file:` URI included). Said here, so that what opens the database without
    it (the backups, `grid-report export-qr`) opens the same file, not one in the current
    folder."""
    if not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url  # here: a server's URL never needs it

    parsed = make_url(url)
    path = parsed.database or ""
    if path in ("", ":memory:"):
        return url
    uri = bool(parsed.query.get("uri"))
    if uri:
        path = path.removeprefix("file:")
    if Path(path).is_absolute():
        return url
    path = str(Path(instance_path) / path)
    return parsed.set(database=f"file:{path}" if uri else path).render_as_string(
        hide_password=False
    )


ENVIRONMENTS = {"development", "testing", "production"}


def validate(config: dict) -> None:
    """Refuse settings that are unsafe for the environment the app runs in."""
    if int(config["AUDIT_RETENTION_DAYS"]) < 183:
        raise ConfigError("AUDIT_RETENTION_DAYS must be at least 183 (six months).")
    if config["ENV"] not in ENVIRONMENTS:
        # "prod" or "prd" once started with the published development key.
        raise ConfigError(
            f"ENV must be one of {', '.join(sorted(ENVIRONMENTS))}, not {config['ENV']!r}."
        )
    if config["ENV"] == "production" and config["SECRET_KEY"] in INSECURE_SECRETS:
        raise ConfigError(
            "SECRET_KEY is missing or is a published default; "
            "set a long random SECRET_KEY in the environment before starting in production."
        )
    if config["ENV"] == "production" and len(str(config["SECRET_KEY"])) < 32:
        raise ConfigError("SECRET_KEY is too short for production: use at least 32 characters.")
    if config["ENV"] == "production" and not str(config["PUBLIC_BASE_URL"]).startswith(
        ("https://", "http://")
    ):
        raise ConfigError(
            "PUBLIC_BASE_URL is missing: set the address villagers' phones reach "
            "the app at (https://...), which every QR code and tracking link "
            "carries, before starting in production."
        )
    if config["LOG_FORMAT"] not in {"text", "json"}:
        raise ConfigError(f"LOG_FORMAT must be text or json, not {config['LOG_FORMAT']!r}.")
    try:
        for part in filter(None, str(config["METRICS_ALLOW"]).split(",")):
            ipaddress.ip_network(part.strip(), strict=False)
    except ValueError:
        raise ConfigError(
            "METRICS_ALLOW must list addresses or networks, comma-separated "
            "(e.g. 127.0.0.1,10.0.0.0/24)."
        ) from None
    if config["WECHAT_MODE"] not in {"live", "fake", "off"}:
        raise ConfigError("WECHAT_MODE must be live, fake or off.")
    if config["ENV"] == "production" and config["WECHAT_MODE"] == "fake":
        raise ConfigError(
            "WECHAT_MODE=fake lets anyone sign in as a bound user: not in production."
        )
    if config["WECHAT_MODE"] == "live" and not (config["WECHAT_APPID"] and config["WECHAT_SECRET"]):
        raise ConfigError("WECHAT_MODE=live needs WECHAT_APPID and WECHAT_SECRET.")
    if config["ENV"] == "production" and not config["IDENTITY_KEYS"]:
        raise ConfigError(
            "IDENTITY_KEYS is missing: informants' names and phones are sealed "
            "with it (generate one: python -c 'from cryptography.fernet import "
            "Fernet; print(Fernet.generate_key().decode())')."
        )
