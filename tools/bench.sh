#!/usr/bin/env bash
# Build and run the CPU benchmarks (Google Benchmark), one thread, medians of 5 repetitions.
#   tools/bench.sh [benchmark-name-regex]
# bench_best_of_n's *_trained cases need a student trained on the default built-in world; the
# first run trains one with the CLI (about 30 s) into build/bench/student_ref.safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_BENCH=ON >/dev/null
benches="bench_inference bench_training bench_gumbel bench_best_of_n bench_simulator bench_gemm bench_online"
# shellcheck disable=SC2086
cmake --build build -j "$(nproc)" --target $benches dualrerank_cli
student=build/bench/student_ref.safetensors
if [ ! -f "$student" ]; then
  build/tools/cli/dualrerank train --world default --model student --d 64 --ffn 256 --steps 1500 \
    --requests 4000 --seed 1 --no-progress --out "$student"
fi
export DUALRERANK_BENCH_STUDENT="$student"
filter="${1:-.}"
for b in $benches; do
  taskset -c 0 "build/bench/$b" --benchmark_filter="$filter" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true 2>/dev/null || "build/bench/$b" --benchmark_filter="$filter" \
    --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
done
