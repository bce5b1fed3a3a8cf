#!/usr/bin/env bash
# Compile time of a serving translation unit, before and after the serving front door (issue 15):
#   bench/compile_time.sh [OLD_COMMIT] [REPS]        (defaults: 403bab2, 5)
# Compiles, one at a time and pinned to one CPU (taskset -c ${BENCH_CPU:-1}), REPS rounds of
#   (a) a TU that includes only the umbrella of OLD_COMMIT / only dualrerank/serve.hpp
#       (header-only, and with -DDUALRERANK_COMPILED_LIB), at -O2;
#   (b) a TU that loads a student and serves one greedy request, at -O2 -march=native: the same
#       code through the old umbrella and through serve.hpp, and through the front door
#       (serving::reranker) header-only and in compiled mode;
# plus src/dualrerank.cpp (the dualrerank::compiled library, built once). Prints the median wall
# and CPU (user + sys) seconds and peak resident memory of each (GNU time). The headers of
# OLD_COMMIT come from `git archive`; the new ones from the working tree's include/.
# Needs g++, GNU time (/usr/bin/time), taskset, Eigen 3 in /usr/include/eigen3 for the old headers.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:-403bab2}
reps=${2:-5}
cpu=${BENCH_CPU:-1}
cxx=${CXX:-g++}
eigen=${EIGEN_INCLUDE:-/usr/include/eigen3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/old"
git archive "$old" include | tar -x -C "$work/old"
new=$PWD/include

echo '#include <dualrerank/dualrerank.hpp>' > "$work/umbrella.cpp"
echo '#include <dualrerank/serve.hpp>' > "$work/serve.cpp"
cat > "$work/load_greedy.cpp" <<'CPP'
// Load a student and serve one greedy request (the same code for both header sets).
#include DUALRERANK_HEADER
#include <algorithm>
int main(int argc, char** argv) {
    using namespace dualrerank;
    if (argc < 2) return 2;
    const auto s = io::load_model<nar_student<float>>(argv[1]);
    request<float> r;
    r.n = 20;
    r.f = s.config().features;
    r.features.assign(std::size_t(r.n) * r.f, 0.5f);
    r.context.assign(std::size_t(s.config().context), 0.f);
    workspace ws;
    const slate y = decode::greedy(s, r.view(), std::min(6, s.config().max_slate), ws);
    return y[0];
}
CPP
cat > "$work/front_door.cpp" <<'CPP'
// Load a student and serve one greedy request through the front door.
#include <dualrerank/serve.hpp>
int main(int argc, char** argv) {
    using namespace dualrerank;
    if (argc < 2) return 2;
    const serving::reranker ranker(argv[1]);
    serving::session session(ranker);
    const model_config& c = ranker.model().config;
    request<float> r;
    r.n = 20;
    r.f = c.features;
    r.features.assign(std::size_t(r.n) * r.f, 0.5f);
    r.context.assign(std::size_t(c.context), 0.f);
    int slate[1024];
    session.rerank(r.view(), 0, slate, 1024);
    return slate[0];
}
CPP

results=$work/results.txt
: > "$results"
run() {  # label, then the compiler command
    local label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" taskset -c "$cpu" "$@" > /dev/null
    echo "$label $(cat "$work/t")" >> "$results"
}
for r in $(seq 1 "$reps"); do
    echo "round $r of $reps" >&2
    run a_old_umbrella "$cxx" -std=c++17 -O2 -c -I"$work/old/include" -I"$eigen" "$work/umbrella.cpp" -o "$work/o.o"
    run a_serve "$cxx" -std=c++17 -O2 -c -I"$new" "$work/serve.cpp" -o "$work/o.o"
    run a_serve_compiled "$cxx" -std=c++17 -O2 -c -DDUALRERANK_COMPILED_LIB -I"$new" "$work/serve.cpp" -o "$work/o.o"
    run b_old_umbrella "$cxx" -std=c++17 -O2 -march=native -c "-DDUALRERANK_HEADER=<dualrerank/dualrerank.hpp>" \
        -I"$work/old/include" -I"$eigen" "$work/load_greedy.cpp" -o "$work/o.o"
    run b_serve_same_code "$cxx" -std=c++17 -O2 -march=native -c "-DDUALRERANK_HEADER=<dualrerank/serve.hpp>" -I"$new" \
        "$work/load_greedy.cpp" -o "$work/o.o"
    run b_front_door "$cxx" -std=c++17 -O2 -march=native -c -I"$new" "$work/front_door.cpp" -o "$work/o.o"
    run b_front_door_compiled "$cxx" -std=c++17 -O2 -march=native -c -DDUALRERANK_COMPILED_LIB -I"$new" \
        "$work/front_door.cpp" -o "$work/o.o"
    run lib_src_dualrerank "$cxx" -std=c++17 -O2 -march=native -c -DDUALRERANK_COMPILED_LIB -I"$new" src/dualrerank.cpp \
        -o "$work/o.o"
done
python3 - "$results" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, wall, user, sys_, rss = line.split()
    rows[label].append((float(wall), float(user) + float(sys_), int(rss)))
base = {"a": None, "b": None}
print("| TU | runs | wall s | CPU s | vs before (CPU) | peak MB |")
print("|---|---:|---:|---:|---:|---:|")
for label, v in rows.items():
    wall = statistics.median(x[0] for x in v)
    cpu = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    part = label[0]
    if label.endswith("old_umbrella"):
        base[part] = cpu
    rel = "%.0f%%" % (100 * cpu / base[part]) if base.get(part) else "-"
    print("| %s | %d | %.2f | %.2f | %s | %.0f |" % (label, len(v), wall, cpu, rel, rss))
PY
