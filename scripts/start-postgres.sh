#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests and local runs, listening on 127.0.0.1 only.
#
#   url=$(scripts/start-postgres.sh)        # start; prints postgresql+psycopg://… on stdout
#   export INGEST_TEST_POSTGRES_URL="$url"
#   scripts/start-postgres.sh stop          # stop it and delete its data folder
#
# Installs Debian's postgresql with apt-get if no server binaries are found (needs root or
# sudo). The cluster lives in a fresh temporary folder; as root it runs as the `postgres` user
# (the server refuses to run as root). Trust authentication, on 127.0.0.1 and a free port only.
# State (folder, port) goes to $INGEST_PG_STATE (default ${TMPDIR:-/tmp}/ingest-postgres.state),
# so `stop` finds it; starting again while one is running prints the running one's URL.
set -euo pipefail

STATE=${INGEST_PG_STATE:-${TMPDIR:-/tmp}/ingest-postgres.state}
DBNAME=${INGEST_PG_DATABASE:-ingest}
log() { echo "start-postgres: $*" >&2; }

find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"; return 0
    fi
    return 1
}

as_owner() {  # run a command as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop() {
    if [ ! -f "$STATE" ]; then log "nothing to stop ($STATE missing)"; return 0; fi
    # shellcheck disable=SC1090
    . "$STATE"
    if [ -n "${PGDATA_DIR:-}" ] && [ -d "$PGDATA_DIR" ]; then
        as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$PGDATA_DIR"
    fi
    rm -f "$STATE"
    log "stopped"
}

install_server() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            log "PostgreSQL missing and not root: apt-get install -y postgresql"; exit 1
        fi
    fi
    log "installing Debian postgresql (apt-get)…"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

start() {
    if [ -f "$STATE" ]; then
        # shellcheck disable=SC1090
        . "$STATE"
        if "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
            echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DBNAME"
            return 0
        fi
        stop
    fi
    BINDIR=$(find_bindir || true)
    if [ -z "$BINDIR" ]; then
        install_server
        BINDIR=$(find_bindir)
    fi
    PGDATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ingest-pg.XXXXXX")
    chmod 755 "$PGDATA_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$PGDATA_DIR" postgres
        chown postgres: "$PGDATA_DIR"
    fi
    as_owner "$BINDIR/initdb" -D "$PGDATA_DIR/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$PGDATA_DIR/initdb.log" 2>&1 \
        || { log "initdb failed:"; cat "$PGDATA_DIR/initdb.log" >&2; exit 1; }
    local attempt
    for attempt in 1 2 3 4 5; do
        PORT=$(free_port)
        if as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR/data" -l "$PGDATA_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA_DIR -c fsync=off \
                -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null 2>&1; then
            break
        fi
        log "start on port $PORT failed (attempt $attempt)"
        PORT=""
    done
    if [ -z "$PORT" ]; then log "could not start:"; tail -20 "$PGDATA_DIR/server.log" >&2; exit 1; fi
    printf 'BINDIR=%q\nPGDATA_DIR=%q\nPORT=%q\n' "$BINDIR" "$PGDATA_DIR" "$PORT" >"$STATE"
    as_owner "$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DBNAME"
    log "running on 127.0.0.1:$PORT (data in $PGDATA_DIR)"
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DBNAME"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
