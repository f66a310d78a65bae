# Sourced by scripts/test: makes sure the servers the store tests talk to are running, installing
# and starting them on a machine that lacks them. Tests read their addresses from:
#   JWT_CUTOFF_TEST_POSTGRES_URL  (default postgres://postgres@127.0.0.1:5432/test)
#   JWT_CUTOFF_TEST_REDIS_URL     (default redis://127.0.0.1:6379)
# With JWT_CUTOFF_REQUIRE_SERVERS=1 (set by .ci/run) a test whose server is missing fails instead
# of saying it was skipped.

: "${JWT_CUTOFF_TEST_POSTGRES_URL:=postgres://postgres@127.0.0.1:5432/test}"
: "${JWT_CUTOFF_TEST_REDIS_URL:=redis://127.0.0.1:6379}"
export JWT_CUTOFF_TEST_POSTGRES_URL JWT_CUTOFF_TEST_REDIS_URL

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
    command -v apt-get >/dev/null || return 1
    echo "installing $* from the system's packages"
    as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_postgres() {
    postgres_ready && return 0
    command -v pg_ctlcluster >/dev/null || apt_install postgresql || true
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        for version in $(ls /etc/postgresql); do
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
        done
        # Trust local TCP connections for the test user, as the test URL expects no password.
        for hba in /etc/postgresql/*/main/pg_hba.conf; do
            if [ -f "$hba" ] && ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
                as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
                as_root pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$(dirname "$hba")")")" main reload || true
            fi
        done
    fi
    for _ in $(seq 1 30); do postgres_ready && break; sleep 1; done
    if postgres_ready; then
        psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1 ||
            psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
    else
        echo "warning: PostgreSQL is not running on 127.0.0.1:5432; its tests will say they were skipped"
    fi
}

ensure_redis() {
    redis_ready && return 0
    command -v redis-server >/dev/null || apt_install redis-server || true
    if command -v redis-server >/dev/null; then
        mkdir -p /tmp/jwt-cutoff-redis
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            --dir /tmp/jwt-cutoff-redis --logfile /tmp/jwt-cutoff-redis/redis.log >/dev/null || true
    fi
    for _ in $(seq 1 30); do redis_ready && break; sleep 1; done
    redis_ready || echo "warning: Redis is not running on 127.0.0.1:6379; its tests will say they were skipped"
}

ensure_postgres
ensure_redis
