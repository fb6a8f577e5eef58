#!/usr/bin/env bash
# Sign-in cost and timing equality, at the production bcrypt cost (12).
#
# - hyperfine: a failed sign-in for an existing account (wrong password) against one for an
#   account that does not exist. Both must cost one bcrypt verification, so the times match
#   and timing does not reveal who has an account.
# - hyperfine: a successful sign-in.
# - wrk: the sign-in page (template + session row) and /healthz, 2 threads, 10 s each.
# - start-up: time from `roster serve` to the first /healthz 200.
#
# Needs the release build, slapd, curl, hyperfine and wrk. Usage: bench/signin.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl hyperfine wrk slapd

write_config "bcrypt_cost = 12"

start_ns=$(date +%s%N)
start_roster
echo "start-up to first /healthz 200: $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
create_admin

JAR="$work/anon.jar"
token="$(csrf_of /sign-in)"
post() { # login password
    curl -s -o /dev/null -b "$JAR" --data-urlencode "csrf_token=$token" \
        --data-urlencode "login=$1" --data-urlencode "password=$2" "$BASE/sign-in"
}
# A successful sign-in replaces the session, so each such run starts from a fresh form.
fresh_form() {
    rm -f "$JAR.ok"
    curl -fs -c "$JAR.ok" "$BASE/sign-in" | grep -o 'name="csrf_token" value="[^"]*"' \
        | sed 's/.*value="//;s/"$//' >"$JAR.token"
}
post_right() {
    curl -s -o /dev/null -b "$JAR.ok" --data-urlencode "csrf_token=$(cat "$JAR.token")" \
        --data-urlencode "login=$ADMIN_EMAIL" --data-urlencode "password=$ADMIN_PASSWORD" \
        -w '%{http_code}' "$BASE/sign-in" | grep -q 303
}
export -f post fresh_form post_right
export JAR token BASE ADMIN_EMAIL ADMIN_PASSWORD

hyperfine --warmup 3 --runs 30 -N --style basic \
    -n "wrong password, existing account" "bash -c 'post $ADMIN_EMAIL wrong-password-123'" \
    -n "unknown account" "bash -c 'post nobody@example.org wrong-password-123'"
hyperfine --warmup 1 --runs 20 -N --style basic --prepare "bash -c fresh_form" \
    -n "right password (sign-in succeeds)" "bash -c post_right"

echo
echo "== wrk: GET /sign-in (new session row per request: no cookies)"
wrk -t2 -c20 -d10s --latency "$BASE/sign-in" | grep -E "Requests/sec|Latency|99%"
echo "== wrk: GET /healthz"
wrk -t2 -c20 -d10s --latency "$BASE/healthz" | grep -E "Requests/sec|Latency|99%"
