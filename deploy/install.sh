#!/usr/bin/env bash
# Install (or upgrade: it is safe to run again) grid-report on Debian 12.
#
#   sudo deploy/install.sh --server-name grid.example.gov.cn [--database postgresql|sqlite]
#
# What it does, each step only when it is not done yet:
#   1. Debian packages: python3-venv, nginx, redis-server, openssl (and postgresql);
#   2. the service user `grid-report` and its folders (/opt, /etc, /var/lib/grid-report);
#   3. a venv in /opt/grid-report/venv from a wheelhouse (`make wheelhouse` on a connected
#      machine: then this needs no internet) or, without one, from this source tree;
#   4. /etc/grid-report/env: generated SECRET_KEY and IDENTITY_KEYS (never replaced once
#      there), the database, Redis for the rate limits, the public address;
#   5. the database: a PostgreSQL role and database (or an SQLite file), migrated to head;
#   6. the systemd units (web, sweep, notify, backup) and the nginx site, enabled;
#   7. /usr/local/bin/grid-report: the command line as the service user, with its settings.
#
# --prefix DIR installs the same tree under DIR (every path in the units, the site and the
# settings moves with it) and leaves the machine alone: no packages, no user, no systemctl.
# CI installs into such a folder and starts the app from what it wrote (tests/test_install.py).
set -euo pipefail

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  cat <<'EOF'
Options:
  --server-name NAME     the site's host name (nginx server_name, PUBLIC_BASE_URL)
  --public-url URL       what QR codes and tracking links carry (default https://NAME)
  --database KIND        postgresql (default) or sqlite
  --database-url URL     use this database instead of making one (SQLAlchemy URL)
  --wheelhouse DIR       install from these wheels only (default: ./wheelhouse if present)
  --user NAME            the service user (default grid-report)
  --port N               where gunicorn listens on 127.0.0.1 (default 5000)
  --prefix DIR           install under DIR and touch nothing else on the machine
  --no-start             write and enable everything, start nothing
EOF
}

say() { printf '== %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

SOURCE=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=/
SERVER_NAME=""
PUBLIC_URL=""
DATABASE=postgresql
DATABASE_URL=""
WHEELHOUSE=""
SERVICE_USER=grid-report
PORT=5000
PORT_GIVEN=no
START=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --server-name) SERVER_NAME=$2; shift 2 ;;
    --public-url) PUBLIC_URL=$2; shift 2 ;;
    --database) DATABASE=$2; shift 2 ;;
    --database-url) DATABASE_URL=$2; shift 2 ;;
    --wheelhouse) WHEELHOUSE=$2; shift 2 ;;
    --user) SERVICE_USER=$2; shift 2 ;;
    --port) PORT=$2; PORT_GIVEN=yes; shift 2 ;;
    --prefix) PREFIX=$2; shift 2 ;;
    --no-start) START=no; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
case "$DATABASE" in postgresql|sqlite) ;; *) die "--database is postgresql or sqlite" ;; esac
[ -n "$SERVER_NAME" ] || die "--server-name is required (the host name villagers' phones reach)"
[ -n "$PUBLIC_URL" ] || PUBLIC_URL="https://$SERVER_NAME"
[ -z "$WHEELHOUSE" ] && [ -d "$SOURCE/wheelhouse" ] && WHEELHOUSE="$SOURCE/wheelhouse"

# A real install changes the machine; a prefixed one only writes under its folder.
if [ "$PREFIX" = / ]; then
  SYSTEM=yes
  ROOT=""
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo), or give --prefix DIR"
else
  SYSTEM=no
  mkdir -p "$PREFIX"
  ROOT=$(cd "$PREFIX" && pwd)
fi
APP=$ROOT/opt/grid-report
VENV=$APP/venv
ETC=$ROOT/etc/grid-report
ENVFILE=$ETC/env
DATA=$ROOT/var/lib/grid-report
UNITS=$ROOT/etc/systemd/system
SITE=$ROOT/etc/nginx/sites-available/grid-report.conf
NGINX_LOGS=$ROOT/var/log/nginx
BIN=$ROOT/usr/local/bin

# --- 1. Debian packages -----------------------------------------------------------------
if [ "$SYSTEM" = yes ]; then
  # fonts-wqy-microhei: the Chinese font embedded in case-file PDFs (CASEFILE_FONT_PATHS);
  # fonts-hanazono: rare characters of names it lacks (CASEFILE_FALLBACK_FONT_PATHS).
  packages=(python3-venv nginx redis-server openssl procps fonts-wqy-microhei fonts-hanazono)
  [ "$DATABASE" = postgresql ] && [ -z "$DATABASE_URL" ] && packages+=(postgresql)
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    # From the town's Debian mirror or installation media when there is no internet.
    say "Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
fi

# --- 2. user and folders ----------------------------------------------------------------
if [ "$SYSTEM" = yes ] && ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  say "service user $SERVICE_USER"
  useradd --system --home-dir /var/lib/grid-report --no-create-home \
    --shell /usr/sbin/nologin "$SERVICE_USER"
fi
id -u "$SERVICE_USER" >/dev/null 2>&1 || die "no user $SERVICE_USER (give --user)"
SERVICE_GROUP=$(id -gn "$SERVICE_USER")
mkdir -p "$APP" "$ETC/tls" "$DATA/media" "$DATA/backups" "$UNITS" "$BIN" \
  "$ROOT/etc/nginx/sites-available" "$ROOT/etc/nginx/sites-enabled" "$NGINX_LOGS"
chmod 0750 "$DATA" "$ETC"
chown "$SERVICE_USER:$SERVICE_GROUP" "$DATA" "$DATA/media" "$DATA/backups"
chown "root:$SERVICE_GROUP" "$ETC" 2>/dev/null || true

# --- 3. the venv ------------------------------------------------------------------------
# Debian's own Python (the one `make wheelhouse` builds for), not another on the PATH.
PYTHON=${PYTHON:-/usr/bin/python3}
[ -x "$VENV/bin/python" ] || { say "venv $VENV"; "$PYTHON" -m venv "$VENV"; }
if [ -n "$WHEELHOUSE" ]; then
  say "grid-report from the wheelhouse $WHEELHOUSE (no index)"
  pip_from=(--no-index --find-links "$WHEELHOUSE")
  "$VENV/bin/pip" install --quiet "${pip_from[@]}" --upgrade grid-report
  # The same version number may carry newer code (a rebuilt wheel): always take this one.
  "$VENV/bin/pip" install --quiet "${pip_from[@]}" --force-reinstall --no-deps grid-report
else
  say "grid-report from the source tree $SOURCE (needs the package index)"
  "$VENV/bin/pip" install --quiet --upgrade "$SOURCE"
  "$VENV/bin/pip" install --quiet --force-reinstall --no-deps "$SOURCE"
fi

# --- 4. the settings --------------------------------------------------------------------
# Each key is written once: a re-run keeps what is there (above all the keys: without
# IDENTITY_KEYS no informant's name can be read back, so keep a copy off the machine).
# Root writes it; the service's group reads it (systemd reads it as root anyway, and
# `sudo -u grid-report grid-report ...` reads it as the service user); nobody else.
touch "$ENVFILE"
chmod 0640 "$ENVFILE"
chown "root:$SERVICE_GROUP" "$ENVFILE"
has() { grep -q "^$1=" "$ENVFILE"; }
put() { has "$1" || printf '%s=%s\n' "$1" "$2" >>"$ENVFILE"; }
getval() { sed -n "s/^$1=//p" "$ENVFILE" | tail -n 1; }

if [ -z "$DATABASE_URL" ] && ! has DATABASE_URL; then
  if [ "$DATABASE" = sqlite ]; then
    DATABASE_URL="sqlite:///$DATA/grid-report.sqlite3"
  elif [ "$SYSTEM" = yes ]; then
    say "PostgreSQL role and database grid_report"
    db_password=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')
    psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }
    verb=CREATE
    [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'grid_report'")" = 1 ] && verb=ALTER
    # On stdin, not in psql's arguments: any user can read a process's arguments.
    printf "%s ROLE grid_report WITH LOGIN PASSWORD '%s';\n" "$verb" "$db_password" | psql_admin
    [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'grid_report'")" = 1 ] \
      || psql_admin -c "CREATE DATABASE grid_report OWNER grid_report ENCODING 'UTF8' TEMPLATE template0"
    # Debian's first cluster listens on 5432 unless that was taken when it was made.
    pg_port=$(psql_admin -tAc "SHOW port")
    DATABASE_URL="postgresql+psycopg://grid_report:$db_password@127.0.0.1:$pg_port/grid_report"
  else
    die "--prefix with PostgreSQL needs --database-url (the machine's PostgreSQL is not touched)"
  fi
fi
[ -n "$DATABASE_URL" ] && put DATABASE_URL "$DATABASE_URL"
put ENV production
put SECRET_KEY "$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')"
put IDENTITY_KEYS "$("$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
put INSTANCE_PATH "$DATA"
put MEDIA_ROOT "$DATA/media"
put BACKUP_DIR "$DATA/backups"
put PUBLIC_BASE_URL "$PUBLIC_URL"
put PROXY_COUNT 1
# The port is the one setting a re-run may change, and only when asked (--port): the
# units and the nginx site below are written from the settings' value, so they agree.
if [ "$PORT_GIVEN" = yes ] && has PORT; then
  sed -i "s/^PORT=.*/PORT=$PORT/" "$ENVFILE"
fi
put PORT "$PORT"
PORT=$(getval PORT)
put RATELIMIT_STORAGE_URI "redis://127.0.0.1:6379/0"

# The command line as the service user with the service's settings: files it makes (an
# SQLite database, photos, backups) belong to the service, and no key is typed anywhere.
cat >"$BIN/grid-report" <<EOF
#!/bin/sh
# Written by deploy/install.sh: grid-report's command line with the service's settings.
# They are exported from the file, never passed as arguments: any user can read a
# process's arguments, and these hold the keys and the database's password.
set -e
while IFS= read -r line; do
  case "\$line" in
    [A-Z_]*=*) export "\$line" ;;
  esac
done < "$ENVFILE"
if [ "\$(id -un)" = "$SERVICE_USER" ]; then
  exec "$VENV/bin/grid-report" "\$@"
fi
exec runuser -u "$SERVICE_USER" -- "$VENV/bin/grid-report" "\$@"
EOF
chmod 0750 "$BIN/grid-report"

# --- 5. the database --------------------------------------------------------------------
say "database migrated to head"
"$BIN/grid-report" db upgrade
"$BIN/grid-report" seed-categories

# --- 6. systemd units and the nginx site ------------------------------------------------
# The shipped files name the real paths; a prefixed install moves them into its folder.
relocate() {
  sed -e "s#/opt/grid-report#$APP#g" -e "s#/etc/grid-report#$ETC#g" \
    -e "s#/var/lib/grid-report#$DATA#g" -e "s#/var/log/nginx#$NGINX_LOGS#g" \
    -e "s#^User=grid-report#User=$SERVICE_USER#" -e "s#^Group=grid-report#Group=$SERVICE_GROUP#" \
    -e "s#127.0.0.1:5000#127.0.0.1:$PORT#g" -e "s#grid.example.gov.cn#$SERVER_NAME#g" "$@"
}
units=()
for unit in "$SOURCE"/deploy/grid-report*.service "$SOURCE"/deploy/grid-report*.timer; do
  relocate "$unit" >"$UNITS/$(basename "$unit")"
  units+=("$(basename "$unit")")
done
relocate "$SOURCE/deploy/nginx-grid-report.conf" >"$SITE"
ln -sfn ../sites-available/grid-report.conf "$ROOT/etc/nginx/sites-enabled/grid-report.conf"
if [ ! -s "$ETC/tls/fullchain.pem" ]; then
  # A self-signed certificate so that nginx starts; put the town's own in its place.
  say "self-signed certificate for $SERVER_NAME (replace $ETC/tls/*.pem with the town's)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$SERVER_NAME" \
    -keyout "$ETC/tls/privkey.pem" -out "$ETC/tls/fullchain.pem" 2>/dev/null
  chmod 0600 "$ETC/tls/privkey.pem"
fi

if [ "$SYSTEM" = yes ]; then
  timers=(); for u in "${units[@]}"; do case "$u" in *.timer) timers+=("$u") ;; esac; done
  nginx -t
  # Without a running systemd (an image being built, a chroot) units are enabled, not started.
  booted=no; [ -d /run/systemd/system ] && booted=yes
  [ "$booted" = yes ] && systemctl daemon-reload
  systemctl enable redis-server.service nginx.service grid-report.service "${timers[@]}"
  if [ "$booted" = no ]; then
    say "systemd is not running here: enabled, not started"
  elif [ "$START" = yes ]; then
    systemctl start redis-server.service
    systemctl restart grid-report.service
    systemctl start "${timers[@]}"
    systemctl reload-or-restart nginx.service
  fi
fi

say "done"
cat <<EOF
Next (README, "Installing"):
  - the first three duties (三员分立): sudo grid-report create-user NAME --role admin|security_admin|auditor
  - the town: sudo grid-report import-template town.xlsx, fill it in, sudo grid-report import town.xlsx
  - the town's TLS certificate in $ETC/tls/ (fullchain.pem, privkey.pem), then: systemctl reload nginx
  - keep a copy of IDENTITY_KEYS from $ENVFILE off this machine
EOF
