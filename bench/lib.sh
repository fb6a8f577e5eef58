# Shared by the bench scripts: a private slapd, a Roster instance from the release build,
# and a signed-in admin. Source it; call bench_setup, then use $BASE, $JAR, $CSRF.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
work="$(mktemp -d "${TMPDIR:-/tmp}/roster-bench-XXXXXX")"
# ROSTER_BIN: another build to measure (default: the release build).
roster_bin="${ROSTER_BIN:-$root/target/release/roster}"
pids=()

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    "$root/scripts/ldap/stop-slapd" "$work/ldap" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap bench_cleanup EXIT

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || {
            echo "bench: '$tool' is missing (apt-get install $tool)" >&2
            exit 1
        }
    done
}

# The private slapd's rootdn and people subtree (start-slapd's defaults).
LDAP_BIND_DN="cn=admin,dc=example,dc=org"
LDAP_BIND_PASSWORD="admin-secret"
LDAP_PEOPLE_DN="ou=people,dc=example,dc=org"

# Starts the private slapd and writes $work/roster.toml; sets $BASE and $LDAP_URL.
# Extra TOML lines for [security] may be passed as $1; any further arguments are LDIF
# files that slapd loads (slapadd) after the sample people.
write_config() {
    local security_extra="${1:-}"
    local seeds=("$root/scripts/ldap/sample-people.ldif" "${@:2}")
    ldap_port="$(free_port)"
    port="$(free_port)"
    LDAP_ADMIN_PASSWORD="$LDAP_BIND_PASSWORD" \
        "$root/scripts/ldap/start-slapd" "$work/ldap" "$ldap_port" "${seeds[@]}" >/dev/null
    LDAP_URL="ldap://127.0.0.1:$ldap_port"
    cat >"$work/roster.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
session_secret = "bench-session-secret-bench-session-secret-bench-session-secret-0000"
[database]
url = "sqlite://$work/roster.db"
[ldap]
url = "$LDAP_URL"
bind_dn = "$LDAP_BIND_DN"
bind_password = "$LDAP_BIND_PASSWORD"
base_dn = "dc=example,dc=org"
people_dn = "$LDAP_PEOPLE_DN"
groups_dn = "ou=groups,dc=example,dc=org"
uid_number_min = 100000
uid_number_max = 199999
gid_number_min = 100000
gid_number_max = 199999
[mail]
transport = "file"
from = "Roster <roster@example.org>"
file_dir = "$work/mail"
[security]
signin_attempts_per_ip_per_minute = 1000000
signin_attempts_per_account_per_15_minutes = 1000000
$security_extra
[lifecycle]
# Off while measuring pages; a bench that measures the lifecycle runs it itself.
interval_minutes = 0
TOML
    BASE="http://127.0.0.1:$port"
}

# Builds the release binary only when there is none.
ensure_roster_bin() {
    [[ -x "$roster_bin" ]] || (cd "$root" && cargo build --release --locked --bin roster)
}

# The roster CLI on the bench configuration.
roster_cli() {
    ROSTER_LOG=warn "$roster_bin" --config "$work/roster.toml" "$@"
}

start_roster() {
    ensure_roster_bin
    ROSTER_LOG=warn "$roster_bin" --config "$work/roster.toml" serve 2>>"$work/roster.log" &
    roster_pid=$!
    pids+=($!)
    for _ in $(seq 1 200); do
        curl -fs "$BASE/healthz" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    cat "$work/roster.log" >&2
    echo "bench: roster did not start" >&2
    exit 1
}

# Stops the instance start_roster started last (e.g. to start it again on a changed config).
stop_roster() {
    [[ -n "${roster_pid:-}" ]] || return 0
    kill "$roster_pid" 2>/dev/null || true
    wait "$roster_pid" 2>/dev/null || true
    local kept=() pid
    for pid in "${pids[@]}"; do [[ "$pid" == "$roster_pid" ]] || kept+=("$pid"); done
    pids=("${kept[@]}")
    roster_pid=""
}

csrf_of() { # page -> token, keeping cookies in $JAR
    curl -fs -b "$JAR" -c "$JAR" "$BASE$1" | grep -o 'name="csrf_token" value="[^"]*"' | head -1 | sed 's/.*value="//;s/"$//'
}

# An admin with password $ADMIN_PASSWORD, activated through the real invitation link.
ADMIN_EMAIL="bench-admin@example.org"
ADMIN_PASSWORD="plum tractor violin 42"
create_admin() {
    local link token
    link="$(ROSTER_LOG=warn "$roster_bin" --config "$work/roster.toml" admin invite \
        --email "$ADMIN_EMAIL" --surname Bench 2>/dev/null | tail -n 1)"
    JAR="$work/admin.jar"
    token="$(csrf_of "${link#"$BASE"}")"
    curl -fs -o /dev/null -b "$JAR" -c "$JAR" --data-urlencode "csrf_token=$token" \
        --data-urlencode "password=$ADMIN_PASSWORD" \
        --data-urlencode "password_confirmation=$ADMIN_PASSWORD" "$link"
}

# The cookies in $JAR (curl's Netscape format) as one Cookie header value, for wrk.
cookie_header() {
    awk -F '\t' 'NF >= 7 && ($1 !~ /^#/ || $1 ~ /^#HttpOnly_/) {
        printf "%s%s=%s", sep, $6, $7; sep = "; "
    }' "$JAR"
}

# Signs in through the form as $1 with password $2, keeping the session in a new jar
# $JAR ($3, default $work/<login>.jar). Fails unless the portal answers 303.
sign_in_as() {
    local login="$1" password="$2" token code
    JAR="${3:-$work/$login.jar}"
    rm -f "$JAR"
    token="$(csrf_of /sign-in)"
    code="$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" -c "$JAR" \
        --data-urlencode "csrf_token=$token" --data-urlencode "login=$login" \
        --data-urlencode "password=$password" "$BASE/sign-in")"
    [[ "$code" == 303 ]] || { echo "bench: sign-in as $login answered $code, not 303" >&2; return 1; }
}

# Directory jobs (LDAP writes) not yet applied, read from the SQLite database.
pending_directory_jobs() {
    python3 - "$work/roster.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=5)
try:
    print(db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'pending'").fetchone()[0])
except sqlite3.OperationalError:
    print(0)
PY
}

# Waits up to $1 seconds (30) for the directory jobs to be applied; fails if they are not.
wait_for_directory_jobs() {
    local deadline=$((SECONDS + ${1:-30}))
    while [[ "$(pending_directory_jobs)" != 0 ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# wrk durations (850.00us, 12.34ms, 1.02s, 1.50m) on stdin -> milliseconds.
wrk_to_ms() {
    awk '{
        v = $1; unit = v; sub(/^[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v)
        f = (unit == "us") ? 0.001 : (unit == "ms") ? 1 : (unit == "s") ? 1000 : (unit == "m") ? 60000 : -1
        if (f < 0) { print "nan" } else { printf "%.2f\n", v * f }
    }'
}

# One line on the machine: cores, CPU, memory, load, slapd version, the binary's date.
machine_facts() {
    echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"\
        "Linux $(uname -r)," \
        "$(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo))," \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)," \
        "$(slapd -VV 2>&1 | sed -n 's/.*\(slapd [0-9.]*\).*/\1/p' | head -n 1)," \
        "roster binary of $(date -u -r "$roster_bin" '+%Y-%m-%d %H:%M UTC')"
}
