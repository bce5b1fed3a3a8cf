#!/bin/sh
# Regenerate the training-curve fixtures live (python/train_curve.py: 200 AdamW steps of the PyTorch
# reference in float64; python/dpo_curve.py: 60 Rerank-DPO steps with autograd gradients) into a
# temporary directory and run the C++ training-parity tests ([training]) against them.
# With --all, the model parity fixtures (python/make_fixtures.py) are regenerated into the same
# directory too and the whole [parity] set runs (it includes [parity][training]).
#
#   python/check_training_parity.sh [--all] <build-dir | test-binary> [extra Catch2 arguments]
#
# <build-dir> means <build-dir>/tests/dualrerank_tests; a test binary can be given directly (for
# example one built from tests/main.cpp + tests/test_training_parity.cpp alone).
# Exit status: the test's (0 = parity holds), 2 when PyTorch is unavailable or the arguments are wrong.
set -u

all=0
if [ "${1:-}" = "--all" ]; then
    all=1
    shift
fi
if [ $# -lt 1 ]; then
    echo "usage: $0 [--all] <build-dir | test-binary> [catch2 args...]" >&2
    exit 2
fi
target=$1
shift
here=$(cd "$(dirname "$0")" && pwd)

if [ -f "$target" ] && [ -x "$target" ]; then
    tests=$target
else
    tests="$target/tests/dualrerank_tests"
fi
if [ ! -x "$tests" ]; then
    echo "check_training_parity: $tests not found (build the dualrerank_tests target first)" >&2
    exit 2
fi

# The first interpreter that can import torch (and numpy).
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch, numpy" >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "check_training_parity: PyTorch is not available (tried \$PYTHON, python3, /usr/bin/python3)" >&2
    exit 2
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/dualrerank-training-parity.XXXXXX") || exit 2
trap 'rm -rf "$out"' EXIT INT TERM

echo "check_training_parity: training the reference with $py ($("$py" -c 'import torch; print("torch", torch.__version__)')) in $out"
"$py" "$here/train_curve.py" --out "$out" || {
    echo "check_training_parity: training-curve generation failed" >&2
    exit 1
}
"$py" "$here/dpo_curve.py" --out "$out" || {
    echo "check_training_parity: Rerank-DPO curve generation failed" >&2
    exit 1
}
tag="[training]"
if [ $all = 1 ]; then
    "$py" "$here/make_fixtures.py" --out "$out" || {
        echo "check_training_parity: fixture generation failed" >&2
        exit 1
    }
    tag="[parity]"
fi
echo "check_training_parity: running $tests $tag"
DUALRERANK_FIXTURE_DIR="$out" "$tests" "$tag" "$@"
