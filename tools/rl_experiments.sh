#!/usr/bin/env bash
# The RL experiments of the Dual-Rerank issue, 3 seeds each, from the SKD students that
# tools/demo.sh wrote (runs it first when they are missing):
#  (1) expected (noise-free) feedback, no drift: LDRO and GRPO improvement curves;
#  (2) sampled feedback, objective weights swapped mid-stream: LDRO vs GRPO, plus ablations
#      (objective decoupling off, slot decoupling off, rank decay off, EMA-only scale);
#  (3) engagement drop x0.3 at half time, and a sparse regime (x0.05 from the start, G = 4).
# Writes CSV curves and a summary to runs/rl/, and a plot (python/plot_rl.py) when matplotlib
# is available.
#   tools/rl_experiments.sh [--seeds "1 2 3"] [--requests N] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3"
requests=24000
quick=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --quick) quick="--quick"; requests=3000; shift ;;
    *) echo "rl_experiments.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target dualrerank_demo rl_experiments
out=runs/rl
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
for s in $seeds; do
  student=runs/demo/seed$s/student_skd.safetensors
  if [ ! -f "$student" ]; then
    build/examples/dualrerank_demo $quick --seed "$s" --out runs/demo > "$out/demo_seed$s.txt"
  fi
  run() {  # name, args...
    local name=$1; shift
    build/examples/rl_experiments --student "$student" --seed "$s" --requests "$requests" \
      --csv "$out/${name}_seed$s.csv" "$@" | sed "s/^/$name /" | tee -a "$summary"
  }
  run exp1_ldro --method ldro --drift none --feedback expected
  run exp1_grpo --method grpo --drift none --feedback expected
  run exp2_ldro --method ldro --drift swap --feedback sampled
  run exp2_grpo --method grpo --drift swap --feedback sampled
  run exp2_ldro_no_objdec --method ldro --drift swap --feedback sampled --no-objective-decoupling
  run exp2_ldro_no_slotdec --method ldro --drift swap --feedback sampled --no-slot-decoupling
  run exp2_ldro_no_rankdecay --method ldro --drift swap --feedback sampled --no-rank-decay
  run exp2_ldro_ema --method ldro --drift swap --feedback sampled --scale ema
  run exp3_eng_ldro --method ldro --drift engagement0.3 --feedback sampled
  run exp3_eng_grpo --method grpo --drift engagement0.3 --feedback sampled
  run exp3_sparse_ldro --method ldro --drift sparse --feedback sampled --group 4
  run exp3_sparse_grpo --method grpo --drift sparse --feedback sampled --group 4
  run exp3_sparse_ldro_ema --method ldro --drift sparse --feedback sampled --group 4 --scale ema
done
py=""
for c in python3 /usr/bin/python3; do
  if command -v "$c" >/dev/null && "$c" -c "import matplotlib" 2>/dev/null; then py=$c; break; fi
done
if [ -n "$py" ]; then
  "$py" python/plot_rl.py "$out" "$out/rl_curves.png"
else
  echo "matplotlib not found (apt-get install python3-matplotlib): skipping the plot" >&2
fi
"${py:-python3}" python/summarize_rl.py "$summary" || true
