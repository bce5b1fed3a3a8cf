#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and run each one in turn.
#   tools/fuzz.sh --time 60          60 seconds per target
#   tools/fuzz.sh --ci               the CI plan: per-target times (285 s in all) from the grown
#                                    corpora (below), so the total CI stays < 30 min
#   tools/fuzz.sh --grow             after a run with --keep-corpus: merge (minimize) the run's corpus
#                                    into tests/fuzz/grown/<target>, the corpus CI starts from
#   tools/fuzz.sh --runs 1000000     a fixed number of executions per target
#   tools/fuzz.sh --targets "json letor" --time 600
#   tools/fuzz.sh --make-corpus      rewrite the generated seeds in tests/fuzz/corpus/ and exit
# Options: --build-dir DIR (default build-fuzz), --jobs N (build parallelism, default nproc),
#          --parallel N (run N targets at a time, each on its own core; default 1),
#          --no-build, --keep-corpus (grow build-fuzz/corpus/<target> across runs; default: start
#          from the committed seeds each run).
# Each target runs in one process on one core, starting from tests/fuzz/corpus/<target> (the
# generated seeds), tests/fuzz/grown/<target> (a minimized corpus grown by earlier long runs: a run
# starts at the coverage those reached) and tests/fuzz/regressions/<target> (every regression input
# is replayed first). Prints per target:
# executions, coverage (libFuzzer's cov: edges and ft: features at the end of the run) and
# crashes; a crash input is saved in build-fuzz/artifacts/<target>/. Exit status 1 if any target
# crashed, leaked, ran out of memory or timed out. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=time
amount=60
all_targets="safetensors model_load letor json jsonl impression_log config inference"
targets=$all_targets
build_dir=build-fuzz
jobs=$(nproc 2>/dev/null || echo 2)
parallel=1
build=1
keep=0
make_corpus=0
grow=0
while [ $# -gt 0 ]; do
  case "$1" in
    --time) mode=time; amount=$2; shift 2 ;;
    --ci) mode=ci; amount=plan; shift ;;
    --runs) mode=runs; amount=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2
      case "$parallel" in ""|*[!0-9]*) echo "fuzz.sh: --parallel needs a positive integer" >&2; exit 2 ;; esac ;;
    --no-build) build=0; shift ;;
    --keep-corpus) keep=1; shift ;;
    --make-corpus) make_corpus=1; shift ;;
    --grow) grow=1; shift ;;
    *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  tools/install-deps.sh --fuzz
  cxx=$(command -v clang++ || command -v clang++-14 || true)
  if [ -z "$cxx" ]; then echo "fuzz.sh: clang++ not found" >&2; exit 1; fi
  # -O1 without NDEBUG: the library's debug shape checks stay on while fuzzing
  cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1" \
        -DDUALRERANK_BUILD_FUZZERS=ON -DDUALRERANK_BUILD_TESTS=OFF -DDUALRERANK_BUILD_BENCH=OFF \
        -DDUALRERANK_BUILD_EXAMPLES=OFF -DDUALRERANK_BUILD_CLI=OFF -DDUALRERANK_INSTALL=OFF >/dev/null
  if [ "$make_corpus" = 1 ]; then
    cmake --build "$build_dir" -j "$jobs" --target fuzz_make_corpus
  else
    # one aggregate target, so that make compiles the targets side by side
    if [ "$targets" = "$all_targets" ]; then
      cmake --build "$build_dir" -j "$jobs" --target dualrerank_fuzzers
    else
      cmake --build "$build_dir" -j "$jobs" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done)
    fi
  fi
fi
if [ "$make_corpus" = 1 ]; then
  "$build_dir/tests/fuzz/fuzz_make_corpus" tests/fuzz/corpus
  exit 0
fi

# Seconds per target for --ci (285 s in all). Every run starts from the grown corpus, which holds
# the coverage of 200 s runs per target (docs/fuzzing.md): from it a 30 s run is back at that
# plateau and explores beyond it; the targets that decode models (model_load, inference,
# safetensors) get 45 s.
ci_seconds() {
  case "$1" in
    safetensors|model_load|inference) echo 45 ;; *) echo 30 ;;
  esac
}

# A smaller ASan quarantine (16 MiB instead of 256 MiB) reuses freed memory sooner: about a third
# more executions per second on small VMs, at the cost of a shorter use-after-free window.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"
# One target, one process, one core: its summary line goes to $build_dir/summary_<target>.txt and
# its status (ok / failed) to $build_dir/status_<target>.txt, so targets can run side by side.
run_target() {
  local t=$1
  local bin="$build_dir/tests/fuzz/fuzz_$t"
  local work="$build_dir/corpus/$t"
  local art="$build_dir/artifacts/$t"
  local log="$build_dir/fuzz_$t.log"
  [ "$keep" = 1 ] || rm -rf "$work"
  rm -rf "$art"
  mkdir -p "$work" "$art"
  local dirs=("$work" "tests/fuzz/corpus/$t")
  [ -d "tests/fuzz/grown/$t" ] && dirs+=("tests/fuzz/grown/$t")
  [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
  local dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
  local limit
  case "$mode" in
    time) limit=(-max_total_time="$amount") ;;
    runs) limit=(-runs="$amount") ;;
    ci) limit=(-max_total_time="$(ci_seconds "$t")") ;;
  esac
  echo "== fuzz_$t (${mode} ${limit[0]#-})"
  local rc=0
  "$bin" "${limit[@]}" "${dict[@]}" -print_final_stats=1 -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  local execs covline cov ft crashes status=ok
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  covline=$(grep -E '^#[0-9]+.*cov: [0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$covline")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$covline")
  crashes=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  if [ "$rc" != 0 ] || [ "${crashes:-0}" != 0 ]; then
    status="FAILED (exit $rc; see $log)"
    echo "== fuzz_$t failed:"
    grep -E 'ERROR|SUMMARY|property violated|Test unit written' "$log" | head -5 || true
    echo failed >"$build_dir/status_$t.txt"
  else
    echo ok >"$build_dir/status_$t.txt"
  fi
  printf '%-12s execs %-10s cov %-6s ft %-6s crashes %-3s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${crashes:-0}" "$status" >"$build_dir/summary_$t.txt"
}

running=0
for t in $targets; do
  rm -f "$build_dir/status_$t.txt" "$build_dir/summary_$t.txt"
  if [ "$parallel" -le 1 ]; then
    run_target "$t"
  else
    run_target "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then wait -n || true; running=$((running - 1)); fi
  fi
done
wait
failed=0
npass=0
nfail=0
summary=()
for t in $targets; do
  if [ "$(cat "$build_dir/status_$t.txt" 2>/dev/null)" = ok ]; then
    npass=$((npass + 1))
  else
    nfail=$((nfail + 1))
    failed=1
  fi
  summary+=("$(cat "$build_dir/summary_$t.txt" 2>/dev/null || echo "$t: no result")")
done
if [ "$grow" = 1 ]; then
  # Minimize each target's corpus (the grown one, this run's new inputs) into tests/fuzz/grown/<target>:
  # libFuzzer's -merge=1 keeps the smallest set of inputs with the same coverage.
  for t in $targets; do
    bin="$build_dir/tests/fuzz/fuzz_$t"
    merged="$build_dir/grown-$t"
    rm -rf "$merged"
    mkdir -p "$merged"
    dict=()
    [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
    src=("$build_dir/corpus/$t")
    [ -d "tests/fuzz/grown/$t" ] && src+=("tests/fuzz/grown/$t")
    "$bin" -merge=1 "${dict[@]}" -rss_limit_mb=2048 -timeout=20 "$merged" "${src[@]}" >"$build_dir/grow_$t.log" 2>&1 ||
      { echo "fuzz.sh: merging the $t corpus failed (see $build_dir/grow_$t.log)" >&2; exit 1; }
    rm -rf "tests/fuzz/grown/$t"
    mkdir -p tests/fuzz/grown
    mv "$merged" "tests/fuzz/grown/$t"
    echo "== grown corpus $t: $(find "tests/fuzz/grown/$t" -type f | wc -l) inputs"
  done
fi
echo "== fuzz summary (${mode} ${amount} per target)"
printf '%s\n' "${summary[@]}"
echo "fuzz: $npass passed, $nfail failed"
exit "$failed"
