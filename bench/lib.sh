# Shared by the bench scripts: a private slapd, a Roster instance from the release build,
# and a signed-in admin. Source it; call bench_setup, then use $BASE, $JAR, $CSRF.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
work="$(mktemp -d "${TMPDIR:-/tmp}/roster-bench-XXXXXX")"
roster_bin="$root/target/release/roster"
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
    ROSTER_LOG=warn "$roster_bin" --config "$work/roster.toml" serve 2>"$work/roster.log" &
    pids+=($!)
    for _ in $(seq 1 200); do
        curl -fs "$BASE/healthz" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    cat "$work/roster.log" >&2
    echo "bench: roster did not start" >&2
    exit 1
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
