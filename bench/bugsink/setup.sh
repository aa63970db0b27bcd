#!/usr/bin/env bash
# Install and configure Bugsink (from PyPI) for the side-by-side ingest benchmark.
#
# Idempotent. Everything lives under bench/.work/bugsink/ (git-ignored):
#   venv/        Python venv with bugsink (+ gunicorn, which bugsink depends on)
#   conf/        bugsink_conf.py: `bugsink-create-conf --template=singleserver` plus the overrides below
#   template/    a migrated database with a superuser, a team and a project; every benchmark run
#                copies it to a fresh directory, so each run starts from an empty, migrated install
#   dsn.txt      the project's DSN (printed on stdout at the end)
#
# Configuration choices (the single-server production layout, minus the reverse proxy):
#   * SQLite for both the main DB and snappea's task queue, snappea running as a separate process
#     with its default 4 worker threads (TASK_ALWAYS_EAGER = False), gunicorn with 4 sync workers
#     (started by bench/ingest.sh, not here).
#   * Ingest quotas (MAX_EVENTS_PER_*) raised to 10^9 and the project's retention raised to 10^7
#     events: with the defaults (1,000 events per 5 minutes) Bugsink would answer 429 or drop most of
#     a throughput benchmark, and Lookout keeps every event too.
#   * No outbound traffic: PHONEHOME off, webhooks allow-list only, no self-reporting DSN, and
#     bench/ingest.sh also points HTTP(S)_PROXY at a closed loopback port.
#
# Usage: bench/bugsink/setup.sh            (env BUGSINK_VERSION=2.6.1 to pin another version)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="$(cd "$HERE/.." && pwd)"
WORK="$BENCH/.work/bugsink"
VENV="$WORK/venv"
CONF="$WORK/conf"
TEMPLATE="$WORK/template"
BUGSINK_VERSION="${BUGSINK_VERSION:-2.6.1}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

mkdir -p "$WORK" "$CONF"

# 1. venv + package
if [ ! -x "$VENV/bin/bugsink-manage" ] || [ "$("$VENV/bin/bugsink-show-version" 2>/dev/null)" != "$BUGSINK_VERSION" ]; then
    echo "setup: installing bugsink==$BUGSINK_VERSION into $VENV" >&2
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "bugsink==$BUGSINK_VERSION" >&2
fi
echo "setup: bugsink $("$VENV/bin/bugsink-show-version")" >&2

# 2. configuration (always regenerated; SECRET_KEY is random per generation, which is fine for a benchmark)
rm -f "$CONF/bugsink_conf.py"
"$VENV/bin/bugsink-create-conf" --template=singleserver --host=127.0.0.1 --base-dir="$TEMPLATE" \
    --output-file="$CONF/bugsink_conf.py" >&2
cat >>"$CONF/bugsink_conf.py" <<'EOF'


# ---------------------------------------------------------------------------------------------------
# Overrides for the Lookout benchmark (appended by bench/bugsink/setup.sh).
# The data directory and port come from the environment so that every run gets a fresh directory.
import os as _bench_os

_BENCH_DIR = _bench_os.environ.get("BUGSINK_BENCH_DIR") or DATABASES["default"]["NAME"].rsplit("/", 1)[0]
_BENCH_PORT = _bench_os.environ.get("BUGSINK_BENCH_PORT", "8000")

DATABASES["default"]["NAME"] = _BENCH_DIR + "/db.sqlite3"
DATABASES["snappea"]["NAME"] = _BENCH_DIR + "/snappea.sqlite3"
SNAPPEA["WAKEUP_CALLS_DIR"] = _BENCH_DIR + "/snappea/wakeup"
BUGSINK["INGEST_STORE_BASE_DIR"] = _BENCH_DIR + "/ingestion"

# Plain HTTP on loopback, no reverse proxy in front.
BUGSINK["BASE_URL"] = "http://127.0.0.1:" + _BENCH_PORT
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
FORCE_SCRIPT_NAME = None
SECURE_PROXY_SSL_HEADER = None
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
USE_X_REAL_IP = False

# Nothing leaves the machine.
BUGSINK["PHONEHOME"] = False
BUGSINK["ALERTS_WEBHOOK_OUTBOUND_MODE"] = "allowlist_only"
BUGSINK["ALERTS_WEBHOOK_ALLOW_LIST"] = []

# A throughput benchmark must not be cut short by the default ingest quotas.
for _bench_key in ("MAX_EVENTS_PER_PROJECT_PER_5_MINUTES", "MAX_EVENTS_PER_PROJECT_PER_HOUR",
                   "MAX_EVENTS_PER_PROJECT_PER_MONTH", "MAX_EVENTS_PER_5_MINUTES", "MAX_EVENTS_PER_HOUR",
                   "MAX_EVENTS_PER_MONTH"):
    BUGSINK[_bench_key] = 10 ** 9
EOF

# Point the environment at the template dir for the management commands below.
export DJANGO_SETTINGS_MODULE=bugsink_conf
export PYTHONPATH="$CONF"
export BUGSINK_BENCH_DIR="$TEMPLATE"
export BUGSINK_BENCH_PORT="${BUGSINK_BENCH_PORT:-8000}"
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost
export http_proxy=$HTTP_PROXY https_proxy=$HTTPS_PROXY no_proxy=$NO_PROXY
manage() { (cd "$CONF" && "$VENV/bin/bugsink-manage" "$@"); }

# 3. template install: migrate, superuser, team, project
mkdir -p "$TEMPLATE"
if [ ! -s "$WORK/dsn.txt" ] || [ ! -f "$TEMPLATE/db.sqlite3" ]; then
    echo "setup: migrating a fresh template database in $TEMPLATE" >&2
    rm -rf "$TEMPLATE" "$WORK/dsn.txt"
    mkdir -p "$TEMPLATE"
    manage migrate --noinput >&2
    manage migrate snappea --database=snappea --noinput >&2
    DJANGO_SUPERUSER_PASSWORD=bench-admin-password manage createsuperuser --noinput \
        --username admin@example.org --email admin@example.org >&2
    manage shell -c '
from django.contrib.auth import get_user_model
from teams.models import Team, TeamMembership, TeamRole
from projects.models import Project, ProjectMembership, ProjectRole
user = get_user_model().objects.get(username="admin@example.org")
team, _ = Team.objects.get_or_create(name="bench")
TeamMembership.objects.get_or_create(team=team, user=user, defaults={"role": TeamRole.ADMIN, "accepted": True})
project, _ = Project.objects.get_or_create(name="bench", defaults={"team": team})
project.retention_max_event_count = 10_000_000
project.save()
ProjectMembership.objects.get_or_create(project=project, user=user, defaults={"role": ProjectRole.ADMIN, "accepted": True})
print("DSN=" + project.dsn)
' | sed -n 's/^DSN=//p' >"$WORK/dsn.txt"
    # A clean file set: no WAL left behind in the template.
    "$VENV/bin/python" - "$TEMPLATE" <<'EOF'
import sqlite3, sys
for name in ("db.sqlite3", "snappea.sqlite3"):
    con = sqlite3.connect(f"{sys.argv[1]}/{name}")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
EOF
fi

cat "$WORK/dsn.txt"
