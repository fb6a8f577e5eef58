#!/usr/bin/env bash
# The initial push of 1,000 Users and 50 Groups (each group of 20) to a real SCIM server
# (scim2-server behind the test proxy), at an unlimited rate and at 300 requests a minute.
# Runs the ignored test `scim::bench_initial_push` of the integration suite, which starts
# its own slapd, SMTP sink, database and SCIM server, and prints one BENCH line per run.
#
#   bench/scim.sh            # both rates, SQLite
#   RATES="60000" bench/scim.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rates="${RATES:-60000 300}"
for rate in $rates; do
    ROSTER_BENCH_SCIM_RATE="$rate" ROSTER_TEST_DB=sqlite \
        cargo test --quiet --test api scim::bench_initial_push -- --ignored --nocapture 2>&1 \
        | grep '^BENCH'
done
