#!/bin/sh
# C++ vs PyTorch (eager and TorchScript) in one run, one pinned thread each, as one markdown table.
# (bench/compare.sh supersedes this: it adds ONNX Runtime, the same weights and inputs on every
# side, a cross-check of logits and slates, FLOPs, memory and two-thread figures.)
#
#   bench/compare_torch.sh BUILD_DIR
#
# Runs BUILD_DIR/bench/bench_inference (BM_nar_greedy, BM_ar_greedy at N = 20, 50, 100, 200) and
# BUILD_DIR/bench/bench_training (BM_train_step_teacher / _student) with 5 repetitions (median
# aggregates), then python/bench_infer.py and python/bench_train.py, all pinned to one CPU with
# taskset when it is available, and prints medians and ratios (process CPU time, then wall clock)
# plus the BLAS torch used. Build the benchmarks first, e.g.
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_TESTS=OFF \
#         -DDUALRERANK_BUILD_EXAMPLES=OFF
#   cmake --build build-bench -j2 --target bench_inference bench_training
#
# Environment:
#   BENCH_CPU=0           the CPU to pin to (taskset -c)
#   BENCH_REPS=5          Google Benchmark repetitions
#   TORCH_RUNS=100        minimum timed runs per inference case (python/bench_infer.py --runs)
#   TORCH_STEPS=20        timed training steps (python/bench_train.py --steps)
#   MALLOC_TUNING=1       run everything with MALLOC_MMAP_THRESHOLD_=33554432 and
#                         MALLOC_TRIM_THRESHOLD_=268435456 (0: glibc defaults). With the defaults,
#                         torch's large temporaries (attention scores at N = 200, the batch-32
#                         training activations) are mmap'ed and trimmed on every allocation, and
#                         the page faults cost torch up to ~6x at N = 200 (measured on the 2-CPU
#                         development VM); tuned, torch is closer to what jemalloc/tcmalloc give.
#                         The C++ library allocates from its workspace and is not affected.
#   TORCH_BLAS_DIR=DIR    prepend DIR to LD_LIBRARY_PATH for the torch runs, to load another
#                         libblas.so.3 (e.g. OpenBLAS's) than the system default; the table says
#                         which library was actually mapped
#   PYTHON=...            the interpreter to try first (it must import torch and numpy)
#   KEEP=DIR              keep the raw JSON results in DIR
# Exit status: 0 on success, 1 when a benchmark fails, 2 when a binary or PyTorch is missing.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

for b in bench_inference bench_training; do
    if [ ! -x "$build/bench/$b" ]; then
        echo "compare_torch: $build/bench/$b not found or not executable; build it first:" >&2
        echo "  cmake --build $build --target bench_inference bench_training" >&2
        exit 2
    fi
done

py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch, numpy" >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "compare_torch: PyTorch is not available (tried \$PYTHON, python3, /usr/bin/python3)" >&2
    exit 2
fi

cpu=${BENCH_CPU:-0}
pin=""
if command -v taskset >/dev/null 2>&1; then
    if taskset -c "$cpu" true 2>/dev/null; then
        pin="taskset -c $cpu"
    else
        echo "compare_torch: taskset -c $cpu failed; running unpinned" >&2
    fi
else
    echo "compare_torch: taskset not found; running unpinned (one thread each all the same)" >&2
fi

if [ -n "${KEEP:-}" ]; then
    out=$KEEP
    mkdir -p "$out" || exit 2
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/dualrerank-compare.XXXXXX") || exit 2
    trap 'rm -rf "$out"' EXIT INT TERM
fi

# One thread everywhere (torch also gets set_num_threads(1) inside the scripts).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 BLIS_NUM_THREADS=1
if [ "${MALLOC_TUNING:-1}" = 1 ]; then
    export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456
fi
reps=${BENCH_REPS:-5}
gb="--benchmark_repetitions=$reps --benchmark_report_aggregates_only=true --benchmark_out_format=json"

ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
echo "compare_torch: $(uname -n), $ncpu CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" >&2
echo "compare_torch: pinned with '${pin:-none}'; malloc tuning: ${MALLOC_TUNING:-1}; raw results in $out" >&2

run() {  # label, command...
    label=$1
    shift
    echo "compare_torch: $label: $*" >&2
    "$@" >"$out/$label.log" 2>&1 || {
        echo "compare_torch: $label failed (exit $?); its output:" >&2
        cat "$out/$label.log" >&2
        exit 1
    }
}

run cpp_infer $pin "$build/bench/bench_inference" --benchmark_filter='BM_(nar|ar)_greedy/' $gb \
    --benchmark_out="$out/cpp_infer.json"
run cpp_train $pin "$build/bench/bench_training" $gb --benchmark_out="$out/cpp_train.json"

if [ -n "${TORCH_BLAS_DIR:-}" ]; then
    export LD_LIBRARY_PATH="$TORCH_BLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
run torch_infer $pin "$py" "$root/python/bench_infer.py" --runs "${TORCH_RUNS:-100}" --json "$out/torch_infer.json"
run torch_train $pin "$py" "$root/python/bench_train.py" --steps "${TORCH_STEPS:-20}" --json "$out/torch_train.json"

echo "compare_torch: load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" >&2
"$py" "$here/compare_torch_table.py" "$out/cpp_infer.json" "$out/cpp_train.json" "$out/torch_infer.json" \
    "$out/torch_train.json" --reps "$reps" \
    --label "one thread, pinned: ${pin:-no}, malloc tuning: ${MALLOC_TUNING:-1}" || exit 1
