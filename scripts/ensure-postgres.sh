# Sourced by test.sh: the PostgreSQL tests start their own server from the Debian binaries, so those must exist.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing PostgreSQL from Debian packages (for the database tests)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    # The tests run their own throw-away clusters; the packaged default cluster need not run.
    service postgresql stop >/dev/null 2>&1 || true
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  else
    echo "[setup] PostgreSQL server binaries (initdb) not found: install the 'postgresql' package" >&2
  fi
fi
export PG_BIN="${PG_BIN:-$pg_bin}"
