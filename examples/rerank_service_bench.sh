#!/usr/bin/env bash
# Throughput and latency of examples/rerank_service's POST /rerank under wrk (docs/service.md):
# greedy and sample modes at 1 and 2 server threads, one keep-alive connection per server thread,
# wrk with 1 thread, the median of RUNS runs of DURATION seconds each (after a 2 s warm-up).
#   examples/rerank_service_bench.sh BUILD_DIR MODEL EVALUATOR REQUEST.json [RUNS] [DURATION]
# REQUEST.json: one request without "id" (the service assigns fresh ids). Prints one line per
# setting: mode, threads, requests/s, p50 and p99 latency in microseconds (medians over the runs).
set -euo pipefail
build=$1 model=$2 evaluator=$3 body=$4 runs=${5:-3} duration=${6:-10}
here=$(cd "$(dirname "$0")" && pwd)
svc=$build/examples/rerank_service
to_us() {  # wrk's 1.23ms / 456.00us / 1.2s -> microseconds
  awk -v x="$1" 'BEGIN { n = x + 0; if (x ~ /us$/) print n; else if (x ~ /ms$/) print n * 1000; else if (x ~ /s$/) print n * 1e6; else print n }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), load: $(uptime | sed 's/.*load average: //'), $(nproc) cores"
printf "%-7s %7s %10s %9s %9s\n" mode threads "req/s" "p50_us" "p99_us"
for mode in greedy sample; do
  for threads in 1 2; do
    out=$(mktemp)
    extra=()
    if [ "$mode" = sample ]; then extra=(--evaluator "$evaluator" --max-pending 4096); fi
    "$svc" --model "$model" --decoder "$mode" --threads "$threads" --port 0 --quiet "${extra[@]}" > "$out" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.1; done
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
    url="http://127.0.0.1:$port"
    wrk -t1 -c"$threads" -d2s -s "$here/rerank_service_wrk.lua" "$url" -- "$body" > /dev/null
    rps=() p50=() p99=()
    for _ in $(seq "$runs"); do
      r=$(wrk -t1 -c"$threads" -d"${duration}s" --latency -s "$here/rerank_service_wrk.lua" "$url" -- "$body")
      if echo "$r" | grep -q "Non-2xx"; then echo "$r" >&2; echo "rerank_service_bench: error responses" >&2; exit 1; fi
      rps+=("$(echo "$r" | awk '/^Requests\/sec:/ { print $2 }')")
      p50+=("$(to_us "$(echo "$r" | awk '$1 == "50%" { print $2 }')")")
      p99+=("$(to_us "$(echo "$r" | awk '$1 == "99%" { print $2 }')")")
    done
    kill -TERM "$pid"
    wait "$pid" || true
    rm -f "$out"
    printf "%-7s %7s %10s %9s %9s   (runs: %s req/s)\n" "$mode" "$threads" \
      "$(printf '%s\n' "${rps[@]}" | median)" "$(printf '%s\n' "${p50[@]}" | median)" "$(printf '%s\n' "${p99[@]}" | median)" "${rps[*]}"
  done
done
echo "# $(date -u '+%H:%M UTC'), load: $(uptime | sed 's/.*load average: //')"
