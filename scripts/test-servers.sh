# Sourced by scripts/test (bash): gives the store tests a PostgreSQL and a Redis of their own, and
# exports where they are:
#   JWT_CUTOFF_TEST_POSTGRES_URL  a server whose user may create databases (the demo's test does)
#   JWT_CUTOFF_TEST_REDIS_URL
# A URL already set is used as it is. Otherwise a throwaway server is started for this run only: a
# fresh PostgreSQL cluster (initdb) and a redis-server, each in a new temporary directory, listening on
# a free 127.0.0.1 port with a random password. Both are stopped, and their directories removed, when
# the sourcing shell exits, however it exits (this file sets its EXIT trap). A server that cannot be
# started is an error. The system's own PostgreSQL and Redis, their services and configuration are
# never touched. Where the binaries are missing, the Debian packages postgresql / redis-server are
# installed, after saying so; the package's own cluster is left as the package sets it up.
# With JWT_CUTOFF_REQUIRE_SERVERS=1 (set by .ci/run) a test whose server is missing fails instead of
# saying it was skipped.

_ts_pg_dir="" _ts_pg_bin="" _ts_pg_user=""
_ts_redis_dir="" _ts_redis_pid=""

_ts_say() { printf 'test-servers: %s\n' "$*" >&2; }
_ts_fail() {
    _ts_say "error: $*"
    exit 1
}

# Runs a command as root (directly, or through sudo), for package installs only.
_ts_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        _ts_say "cannot install packages: not root and no sudo"
        return 1
    fi
}

_ts_apt_install() {
    command -v apt-get >/dev/null 2>&1 || {
        _ts_say "cannot install $*: no apt-get on this machine"
        return 1
    }
    _ts_say "installing the system package(s) $* with apt-get (they are missing here)"
    _ts_as_root apt-get update -qq >/dev/null &&
        _ts_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# A TCP port on 127.0.0.1 that nothing listens on now, chosen by the OS (python3), or else a random
# one that refuses a connection.
_ts_free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null; then
        return 0
    fi
    local port _
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

_ts_secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# Runs a command as the user the throwaway PostgreSQL runs as (PostgreSQL refuses to run as root).
_ts_as_pg() {
    if [ -z "$_ts_pg_user" ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$_ts_pg_user" -- "$@"
    elif command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$_ts_pg_user" --regid="$_ts_pg_user" --init-groups -- "$@"
    else
        _ts_say "neither runuser nor setpriv is here to run PostgreSQL as $_ts_pg_user"
        return 1
    fi
}

# The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/N/bin, else initdb on PATH.
_ts_find_pg_bin() {
    local newest
    newest=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ] && [ -x "$newest/pg_ctl" ]; then
        echo "$newest"
    elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    else
        return 1
    fi
}

_ts_start_postgres() {
    if [ -n "${JWT_CUTOFF_TEST_POSTGRES_URL:-}" ]; then
        _ts_say "PostgreSQL: using JWT_CUTOFF_TEST_POSTGRES_URL as given"
        return 0
    fi
    _ts_pg_bin=$(_ts_find_pg_bin) || {
        _ts_apt_install postgresql || _ts_fail "PostgreSQL is not installed and could not be installed; install it, or set JWT_CUTOFF_TEST_POSTGRES_URL to a server the tests may use"
        _ts_pg_bin=$(_ts_find_pg_bin) || _ts_fail "PostgreSQL's initdb/pg_ctl not found even after installing the postgresql package"
    }
    if [ "$(id -u)" = 0 ]; then
        id -u postgres >/dev/null 2>&1 ||
            _ts_fail "running as root, and there is no unprivileged 'postgres' user to run the throwaway PostgreSQL as"
        _ts_pg_user=postgres
    fi

    _ts_pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/jwt-cutoff-postgres.XXXXXX") ||
        _ts_fail "cannot make a temporary directory for PostgreSQL"
    if [ -n "$_ts_pg_user" ]; then
        chown "$_ts_pg_user:" "$_ts_pg_dir" || _ts_fail "cannot hand $_ts_pg_dir to the $_ts_pg_user user"
        _ts_as_pg test -w "$_ts_pg_dir" ||
            _ts_fail "the $_ts_pg_user user cannot write to $_ts_pg_dir (set TMPDIR to a directory it can reach)"
    fi
    local dir=$_ts_pg_dir password port attempt version
    password=$(_ts_secret)
    # The superuser's password, through a file only the cluster's owner can read, removed after initdb.
    (umask 077 && printf '%s\n' "$password" >"$dir/password") || _ts_fail "cannot write $dir/password"
    [ -z "$_ts_pg_user" ] || chown "$_ts_pg_user:" "$dir/password"
    # Superuser `postgres`. Over TCP a password is asked; the Unix socket lives in $dir, which only
    # the cluster's owner can enter, and is trusted, for creating the test database below.
    if ! (cd "$dir" && _ts_as_pg "$_ts_pg_bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/password" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1); then
        cat "$dir/initdb.log" >&2
        _ts_fail "initdb failed in $dir/data (output above)"
    fi
    rm -f "$dir/password"
    _ts_as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF || _ts_fail "cannot write $dir/data/postgresql.conf"

# Throwaway test cluster (scripts/test-servers.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
EOF
    version=$("$_ts_pg_bin/postgres" --version 2>/dev/null | sed -n 's/^[^0-9]*\([0-9][0-9.]*\).*/\1/p')

    # A port can be taken between choosing and binding it: a few tries, each waited on for a bounded time.
    for attempt in 1 2 3; do
        port=$(_ts_free_port) || _ts_fail "no free TCP port found for PostgreSQL"
        if (cd "$dir" && _ts_as_pg "$_ts_pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" \
            -w -t 60 start >/dev/null 2>&1); then
            break
        fi
        _ts_say "PostgreSQL did not start on port $port (try $attempt of 3)"
        (cd "$dir" && _ts_as_pg "$_ts_pg_bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1) || true
        port=""
    done
    if [ -z "$port" ]; then
        tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true
        _ts_fail "the throwaway PostgreSQL could not be started (its log's end is above)"
    fi
    local ready=""
    for _ in $(seq 1 60); do
        if "$_ts_pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; then
            ready=1
            break
        fi
        sleep 0.5
    done
    [ -n "$ready" ] || _ts_fail "the throwaway PostgreSQL started but does not answer on 127.0.0.1:$port"
    (cd "$dir" && _ts_as_pg "$_ts_pg_bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
        -c "CREATE DATABASE test" >/dev/null) || _ts_fail "cannot create the database test on the throwaway PostgreSQL"

    export JWT_CUTOFF_TEST_POSTGRES_URL="postgres://postgres:$password@127.0.0.1:$port/test"
    _ts_say "PostgreSQL $version (throwaway, run as ${_ts_pg_user:-$(id -un)}): listening on 127.0.0.1:$port, database test, data in $dir"
}

_ts_redis_ping() { # port password
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'AUTH %s\r\nPING\r\n' "$2" >&3
        read -r -t 2 _ <&3 && read -r -t 2 answer <&3 && [ "${answer%$'\r'}" = "+PONG" ]
    ) 2>/dev/null
}

_ts_start_redis() {
    if [ -n "${JWT_CUTOFF_TEST_REDIS_URL:-}" ]; then
        _ts_say "Redis: using JWT_CUTOFF_TEST_REDIS_URL as given"
        return 0
    fi
    command -v redis-server >/dev/null 2>&1 || {
        _ts_apt_install redis-server || _ts_fail "redis-server is not installed and could not be installed; install it, or set JWT_CUTOFF_TEST_REDIS_URL to a server the tests may use"
        command -v redis-server >/dev/null 2>&1 || _ts_fail "redis-server not found even after installing the redis-server package"
    }
    _ts_redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/jwt-cutoff-redis.XXXXXX") ||
        _ts_fail "cannot make a temporary directory for Redis"
    local dir=$_ts_redis_dir password port attempt ready version
    password=$(_ts_secret)
    version=$(redis-server --version 2>/dev/null | sed -n 's/.* v=\([^ ]*\).*/\1/p')
    for attempt in 1 2 3; do
        port=$(_ts_free_port) || _ts_fail "no free TCP port found for Redis"
        # The password goes in a file only we can read, not on a command line.
        (umask 077 && cat >"$dir/redis.conf" <<EOF) || _ts_fail "cannot write $dir/redis.conf"
bind 127.0.0.1
port $port
requirepass $password
save ""
appendonly no
dir $dir
pidfile $dir/redis.pid
logfile $dir/redis.log
daemonize yes
EOF
        ready=""
        if redis-server "$dir/redis.conf" >/dev/null 2>&1; then
            for _ in $(seq 1 40); do
                if _ts_redis_ping "$port" "$password"; then
                    ready=1
                    break
                fi
                sleep 0.25
            done
        fi
        _ts_redis_pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
        [ -z "$ready" ] || break
        _ts_say "Redis did not start on port $port (try $attempt of 3)"
        _ts_stop_redis_process
    done
    if [ -z "$ready" ]; then
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
        _ts_fail "the throwaway Redis could not be started (its log's end is above)"
    fi
    export JWT_CUTOFF_TEST_REDIS_URL="redis://:$password@127.0.0.1:$port"
    _ts_say "Redis $version (throwaway): listening on 127.0.0.1:$port, pid $_ts_redis_pid, files in $dir"
}

_ts_stop_redis_process() {
    [ -n "$_ts_redis_pid" ] || return 0
    kill "$_ts_redis_pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$_ts_redis_pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -KILL "$_ts_redis_pid" 2>/dev/null || true
    _ts_redis_pid=""
}

# The EXIT trap: stops what this file started and removes its directories; never fails.
_ts_stop_servers() {
    if [ -n "$_ts_pg_dir" ]; then
        if [ -f "$_ts_pg_dir/data/postmaster.pid" ]; then
            (cd "$_ts_pg_dir" && _ts_as_pg "$_ts_pg_bin/pg_ctl" -D "$_ts_pg_dir/data" -m fast -w -t 20 stop >/dev/null 2>&1) ||
                (cd "$_ts_pg_dir" && _ts_as_pg "$_ts_pg_bin/pg_ctl" -D "$_ts_pg_dir/data" -m immediate -w -t 20 stop >/dev/null 2>&1) ||
                _ts_say "warning: could not stop the throwaway PostgreSQL in $_ts_pg_dir"
        fi
        rm -rf "$_ts_pg_dir"
        _ts_say "stopped the throwaway PostgreSQL, removed $_ts_pg_dir"
        _ts_pg_dir=""
    fi
    if [ -n "$_ts_redis_dir" ]; then
        _ts_stop_redis_process
        rm -rf "$_ts_redis_dir"
        _ts_say "stopped the throwaway Redis, removed $_ts_redis_dir"
        _ts_redis_dir=""
    fi
}

trap _ts_stop_servers EXIT
# A signal ends the shell through `exit`, so the EXIT trap runs.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

_ts_start_postgres
_ts_start_redis
