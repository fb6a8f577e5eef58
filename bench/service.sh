#!/usr/bin/env bash
# Running Roster as a service: what its logs, metrics, backups and stop cost.
#
# - wrk -t2 -c16 on /healthz and the sign-in page with the access line off (ROSTER_LOG=warn),
#   as text and as JSON (ROSTER_LOG=info): the cost of one log line per request;
# - wrk -t1 -c2 on GET /metrics with its token, and the size of one scrape;
# - `roster backup` of a database holding 10,000 members (seed-members) under
#   /usr/bin/time -v: wall time and peak RSS, and the file's size;
# - SIGTERM to exit, idle and while wrk keeps 16 connections busy.
#
# Needs the release build, slapd, curl and wrk. Usage: bench/service.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need curl wrk slapd
here="$(dirname "${BASH_SOURCE[0]}")"
ensure_roster_bin

write_config "bcrypt_cost = 12"
token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" >"$work/metrics-token"
printf '[metrics]\ntoken_file = "%s"\n' "$work/metrics-token" >>"$work/roster.toml"

# Starts the portal with the log settings given as environment (NAME=VALUE...).
serve_with() {
    env "$@" "$roster_bin" --config "$work/roster.toml" serve 2>>"$work/serve.log" &
    roster_pid=$!
    pids+=($!)
    for _ in $(seq 1 200); do
        curl -fs "$BASE/healthz" >/dev/null 2>&1 && return 0
        sleep 0.02
    done
    cat "$work/serve.log" >&2
    exit 1
}

measure() { # label url [wrk args...]
    local label="$1" url="$2"
    shift 2
    local out rps p99
    out="$(wrk -t2 -c16 -d10s --latency "$@" "$url")"
    rps="$(awk '/Requests\/sec/ { print $2 }' <<<"$out")"
    # Every answer must be a 2xx: wrk counts errors as requests too.
    if grep -q "Non-2xx" <<<"$out"; then
        echo "bench: $label: $(grep Non-2xx <<<"$out")" >&2
        exit 1
    fi
    p99="$(awk '$1 == "99%" { print $2 }' <<<"$out" | wrk_to_ms)"
    printf '%-44s %10s req/s   p99 %6s ms\n' "$label" "$rps" "$p99"
}

echo "machine: $(machine_facts)"
echo
echo "== one access line per request"
for variant in "ROSTER_LOG=warn" "ROSTER_LOG=info ROSTER_LOG__FORMAT=text" \
    "ROSTER_LOG=info ROSTER_LOG__FORMAT=json"; do
    # shellcheck disable=SC2086
    serve_with $variant
    measure "/healthz ($variant)" "$BASE/healthz"
    measure "/sign-in ($variant)" "$BASE/sign-in"
    stop_roster
done
lines="$(grep -c '"message":"served"' "$work/serve.log" || true)"
echo "JSON access lines written: $lines (every one parses: $(grep '"message":"served"' "$work/serve.log" | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]; print("yes")'))"

echo
echo "== GET /metrics"
serve_with ROSTER_LOG=warn
bytes="$(curl -fs -H "Authorization: Bearer $token" "$BASE/metrics" | wc -c)"
series="$(curl -fs -H "Authorization: Bearer $token" "$BASE/metrics" | grep -vc '^#')"
echo "one scrape after the runs above: $bytes bytes, $series samples"
measure "/metrics (token)" "$BASE/metrics" -H "Authorization: Bearer $token"

echo
echo "== SIGTERM to exit"
start_ns=$(date +%s%N)
kill -TERM "$roster_pid"
wait "$roster_pid" || true
echo "idle: $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
pids=()
serve_with ROSTER_LOG=warn
wrk -t2 -c16 -d6s "$BASE/sign-in" >/dev/null &
wrk_pid=$!
sleep 3
start_ns=$(date +%s%N)
kill -TERM "$roster_pid"
wait "$roster_pid" && code=0 || code=$?
echo "under wrk -c16 on /sign-in: $(( ($(date +%s%N) - start_ns) / 1000000 )) ms, exit status $code"
wait "$wrk_pid" || true
pids=()

echo
echo "== roster backup (10,000 members)"
"$here/gen-people-ldif" --count 10000 --tsv "$work/people.tsv" >/dev/null
org_id="$(roster_cli org create --name "Bench Lab" --short-name bench 2>/dev/null | tail -n 1)"
"$here/seed-members" "$work/roster.db" "$org_id" "$work/people.tsv" --count 10000 >/dev/null
/usr/bin/time -v "$roster_bin" --config "$work/roster.toml" backup "$work/backup.db" \
    2>"$work/time.txt" || { cat "$work/time.txt" >&2; exit 1; }
grep -m1 "backup written" "$work/time.txt"
echo "wall $(awk -F': ' '/Elapsed/ { print $2 }' "$work/time.txt"), peak RSS $(awk '/Maximum resident/ { printf "%.0f MB", $6 / 1024 }' "$work/time.txt"), file $(du -h "$work/backup.db" | cut -f1)"
