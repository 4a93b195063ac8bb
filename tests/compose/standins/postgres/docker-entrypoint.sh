#!/bin/sh
# The official postgres entrypoint, reduced to what docker-compose.yml uses.
set -eu
if [ "${1:-}" = postgres ]; then
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
    fi
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        password="${POSTGRES_PASSWORD:-}"
        if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then password="$(cat "$POSTGRES_PASSWORD_FILE")"; fi
        [ -n "$password" ] || { echo "stand-in postgres: POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required" >&2; exit 1; }
        user="${POSTGRES_USER:-postgres}"
        pwfile="$(mktemp)"; printf '%s\n' "$password" > "$pwfile"
        initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
        rm -f "$pwfile"
        echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
        db="${POSTGRES_DB:-$user}"
        if [ "$db" != postgres ]; then
            pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
            psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres -c "CREATE DATABASE \"$db\"" >/dev/null
            pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
        fi
        echo "stand-in postgres: initialised $PGDATA (user $user, database $db)"
    fi
    shift
    exec postgres -c listen_addresses='*' "$@"
fi
exec "$@"
