#!/bin/sh
# C++ (dualrerank) vs PyTorch (eager, TorchScript) vs ONNX Runtime, in one run, on the same models
# and inputs, one pinned thread each; checks that all produce the same slates and logits and writes
# the performance table (markdown) to BUILD_DIR/performance_table.md.
#
#   bench/compare.sh BUILD_DIR
#
# Steps (docs/performance.md, "Comparison harness"):
#   1. builds bench_compare in BUILD_DIR (configuring it as a Release build
#      without tests and examples if it has no CMakeCache.txt; BUILD=0 skips this step);
#   2. installs onnxruntime-node@1.30.0 into BUILD_DIR/onnx with ONNXRUNTIME_NODE_INSTALL=skip
#      (once; the CPU runtime ships in the package);
#   3. python/compare_prepare.py BUILD_DIR/compare-data: the models (NAR student, AR teacher with
#      2- and 1-layer decoders) as safetensors files, the inputs, and their ONNX exports;
#   4. runs, each pinned to CPU $BENCH_CPU with taskset: bench_compare (C++, Google Benchmark,
#      $BENCH_REPS repetitions, inference and training steps; it also dumps its logits and slates,
#      the memory and workspace figures), python/bench_infer.py --data, python/bench_train.py,
#      bench/onnx_bench.mjs; then bench_compare's two-thread serving cases pinned to two CPUs;
#      (steps 4 repeated ROUNDS times; the logits and slates are taken from the first round);
#   5. bench/compare_table.py: the cross-check (exit status 1 on a mismatch) and the table.
#
# Environment:
#   BENCH_CPU=0            the CPU for the single-thread runs; BENCH_CPUS2=0,1 for the 2-thread case
#   BENCH_REPS=5           Google Benchmark repetitions (median aggregates)
#   ROUNDS=1               run the whole timing sequence this many times; the table takes every
#                          case's best round (lowest median), which filters bursts of other load on
#                          a shared machine the same way for every implementation
#   TORCH_RUNS=100         minimum timed runs per PyTorch inference case; ORT_RUNS=200 for ORT
#   TORCH_STEPS=20         timed PyTorch training steps
#   TORCH_BLAS_DIR=DIR     the libblas.so.3 directory for torch (default: Debian's OpenBLAS,
#                          serial or pthread build, if installed: tools/install-deps.sh --compare);
#                          the table says which BLAS library torch actually mapped
#   MALLOC_TUNING=1        the torch runs get MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ (see
#                          bench/compare_torch.sh); the C++ and ORT runs keep glibc's defaults
#   PYTHON=...             the interpreter to try first (it must import torch and numpy)
#   KEEP=DIR               where the raw results go (default BUILD_DIR/compare-results)
# Exit status: 0 success, 1 a run or the cross-check failed, 2 something is missing.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mkdir -p "$1" || exit 2
build=$(cd "$1" && pwd)
say() { echo "compare: $*" >&2; }

# ------------------------------------------------------------------ tools
py=""
for cand in ${PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch, numpy" >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    say "PyTorch is not available (tried \$PYTHON, /usr/bin/python3, python3): tools/install-deps.sh --compare"
    exit 2
fi
for t in node npm cmake; do
    command -v $t >/dev/null 2>&1 || { say "$t not found: tools/install-deps.sh --compare"; exit 2; }
done

if [ "${BUILD:-1}" = 1 ]; then
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_TESTS=OFF \
            -DDUALRERANK_BUILD_EXAMPLES=OFF -DDUALRERANK_BUILD_BENCH=ON >/dev/null || exit 1
    fi
    say "building bench_compare in $build"
    cmake --build "$build" -j2 --target bench_compare >/dev/null || exit 1
fi
for b in bench_compare; do
    [ -x "$build/bench/$b" ] || { say "$build/bench/$b missing"; exit 2; }
done

ort=$build/onnx
if [ ! -f "$ort/node_modules/onnxruntime-node/package.json" ]; then
    say "installing onnxruntime-node@1.30.0 into $ort"
    mkdir -p "$ort" || exit 2
    [ -f "$ort/package.json" ] || echo '{"name": "dualrerank-onnx-bench", "private": true}' >"$ort/package.json"
    (cd "$ort" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund onnxruntime-node@1.30.0 >npm.log 2>&1) || {
        say "npm install failed:"
        cat "$ort/npm.log" >&2
        exit 2
    }
fi

blasdir=${TORCH_BLAS_DIR:-}
if [ -z "$blasdir" ]; then
    for d in /usr/lib/*-linux-gnu/openblas-serial /usr/lib/*-linux-gnu/openblas-pthread /usr/lib64/openblas; do
        if [ -e "$d/libblas.so.3" ]; then blasdir=$d; break; fi
    done
fi
[ -n "$blasdir" ] || say "no OpenBLAS found (tools/install-deps.sh --compare); torch uses the default libblas.so.3"

cpu=${BENCH_CPU:-0}
cpus2=${BENCH_CPUS2:-0,1}
pin="" pin2=""
if command -v taskset >/dev/null 2>&1 && taskset -c "$cpu" true 2>/dev/null; then
    pin="taskset -c $cpu"
    taskset -c "$cpus2" true 2>/dev/null && pin2="taskset -c $cpus2"
else
    say "taskset unavailable or CPU $cpu not allowed: running unpinned"
fi

out=${KEEP:-$build/compare-results}
data=$build/compare-data
mkdir -p "$out" || exit 2
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 BLIS_NUM_THREADS=1
reps=${BENCH_REPS:-5}
gb="--benchmark_repetitions=$reps --benchmark_report_aggregates_only=true --benchmark_out_format=json"
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
say "$(uname -n), $(getconf _NPROCESSORS_ONLN 2>/dev/null) CPUs, nice $(nice), load average $load0"
say "pinned with '${pin:-none}' (two-thread case: '${pin2:-none}'); results in $out"

run() {  # label, command...
    label=$1
    shift
    say "$label: $*"
    "$@" >"$out/$label.log" 2>&1 || {
        say "$label failed (exit $?); its output:"
        cat "$out/$label.log" >&2
        exit 1
    }
}

run prepare "$py" "$root/python/compare_prepare.py" "$data"
rounds=${ROUNDS:-1}
cpp_l="" torch_l="" ttrain_l="" ort_l="" thr_l=""
r=1
while [ "$r" -le "$rounds" ]; do
    [ "$rounds" -gt 1 ] && say "round $r of $rounds, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
    cdump="" tdump=""
    if [ "$r" = 1 ]; then
        cdump="--dump=$out/cpp_dump.json"
        tdump="--dump $out/torch_dump.json"
    fi
    run cpp.r$r $pin "$build/bench/bench_compare" --data="$data" $cdump \
        --benchmark_filter='^(nar_greedy|ar_greedy|ar1_greedy|nar_batch32|train_teacher|train_student|sgemm_eigen)/' $gb --benchmark_out="$out/cpp.r$r.json"
    (
        [ -n "$blasdir" ] && export LD_LIBRARY_PATH="$blasdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        [ "${MALLOC_TUNING:-1}" = 1 ] && export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456
        run torch_infer.r$r $pin "$py" "$root/python/bench_infer.py" --data "$data" --runs "${TORCH_RUNS:-100}" \
            --json "$out/torch.r$r.json" $tdump
        run torch_train.r$r $pin "$py" "$root/python/bench_train.py" --steps "${TORCH_STEPS:-20}" \
            --json "$out/torch_train.r$r.json"
    ) || exit 1
    [ "$r" = 1 ] && say "torch: $(grep -m1 'BLAS in use' "$out/torch_infer.r1.log")"
    run ort.r$r $pin node "$here/onnx_bench.mjs" --ort "$ort" --data "$data" --json "$out/ort.r$r.json" \
        --runs "${ORT_RUNS:-200}"
    if [ -n "$pin2" ] || [ -z "$pin" ]; then
        run cpp_threads.r$r $pin2 "$build/bench/bench_compare" --data="$data" --benchmark_filter='^serve_' $gb \
            --benchmark_out="$out/cpp_threads.r$r.json"
        thr_l="$thr_l $out/cpp_threads.r$r.json"
    fi
    cpp_l="$cpp_l $out/cpp.r$r.json"
    torch_l="$torch_l $out/torch.r$r.json"
    ttrain_l="$ttrain_l $out/torch_train.r$r.json"
    ort_l="$ort_l $out/ort.r$r.json"
    r=$((r + 1))
done
threads_json=""
if [ -n "$thr_l" ]; then
    threads_json="--cpp-threads$thr_l"
else
    say "CPUs $cpus2 not available: no two-thread measurement"
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
say "load average after the runs: $load1"

# shellcheck disable=SC2086  # the lists are meant to split into one argument per round
"$py" "$here/compare_table.py" --cpp $cpp_l --cpp-dump "$out/cpp_dump.json" $threads_json \
    --torch $torch_l --torch-dump "$out/torch_dump.json" \
    --torch-train $ttrain_l --ort $ort_l --reps "$reps" --out "$build/performance_table.md" \
    --label "$(date -u +%Y-%m-%d), $(getconf _NPROCESSORS_ONLN 2>/dev/null) CPUs, load average $load0 before / $load1 after, nice $(nice), pinned: ${pin:-no}, $rounds round(s)"
status=$?
say "table written to $build/performance_table.md"
exit $status
