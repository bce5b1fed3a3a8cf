#!/usr/bin/env bash
# Build and run the CPU benchmarks (Google Benchmark), one thread, medians of 5 repetitions.
#   tools/bench.sh [benchmark-name-regex]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_BENCH=ON >/dev/null
cmake --build build -j "$(nproc)" --target bench_inference bench_training bench_gumbel bench_simulator bench_gemm
filter="${1:-.}"
for b in bench_inference bench_training bench_gumbel bench_simulator bench_gemm; do
  taskset -c 0 "build/bench/$b" --benchmark_filter="$filter" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true 2>/dev/null || "build/bench/$b" --benchmark_filter="$filter" \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
done
