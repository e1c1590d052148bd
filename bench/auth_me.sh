#!/usr/bin/env bash
# Throughput of the authenticated path: GET /api/v1/auth/me with one token, under wrk.
#
#   bench/auth_me.sh URL [URL ...]
#
# Each URL is a running server (e.g. two checkouts on two ports, sharing one database); runs
# alternate between them so that noise from other work on the machine hits each side alike.
# Prints every run and the median requests/second per URL and path. Needs curl, python3 and wrk
# (a measuring tool only, not a project dependency).
#
#   RUNS (3)  DURATION (10s)  CONNECTIONS (16)  THREADS (2)
#   PATHS ("/api/v1/auth/me"): the GET paths measured, one after the other, each with the token
#   BENCH_EMAIL / BENCH_USERNAME / BENCH_PASSWORD: the account used (registered when missing)
set -euo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
PATHS=${PATHS:-/api/v1/auth/me}
EMAIL=${BENCH_EMAIL:-bench@example.com}
USERNAME=${BENCH_USERNAME:-bench}
PASSWORD=${BENCH_PASSWORD:-Bench-Mark-2026x}

[ $# -ge 1 ] || { sed -n '2,15p' "$0"; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)"; exit 2; }

token_for() {
    curl -s -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"email\":\"$EMAIL\",\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" \
        "$1/api/v1/auth/register"
    curl -sf -H 'Content-Type: application/json' \
        -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "$1/api/v1/auth/login" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])'
}

declare -A TOKENS RESULTS
for url in "$@"; do
    TOKENS[$url]=$(token_for "$url")
done

for path in $PATHS; do
    for url in "$@"; do  # warm-up: connection pools, imports, caches
        wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "Authorization: Bearer ${TOKENS[$url]}" \
            "$url$path" >/dev/null
    done
    RESULTS=()
    for run in $(seq "$RUNS"); do
        for url in "$@"; do
            out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
                -H "Authorization: Bearer ${TOKENS[$url]}" "$url$path")
            rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
            errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
            echo "$url$path run $run: $rps req/s${errors:+ ($errors non-2xx)}"
            RESULTS[$url]="${RESULTS[$url]:-} $rps"
        done
    done
    for url in "$@"; do
        median=$(tr ' ' '\n' <<<"${RESULTS[$url]}" | grep . | sort -g |
            awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}')
        echo "$url$path median: $median req/s over $RUNS runs of $DURATION, $CONNECTIONS connections"
    done
done
