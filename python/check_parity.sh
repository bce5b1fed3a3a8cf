#!/bin/sh
# Regenerate the PyTorch parity fixtures live (every case, every model file and gradient) into a
# temporary directory and run the C++ parity test against them.
#
#   python/check_parity.sh <build-dir> [extra Catch2 arguments]
#
# Exit status: the test's (0 = parity holds), 2 when PyTorch is unavailable or the arguments are wrong.
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 <build-dir> [catch2 args...]" >&2
    exit 2
fi
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)

tests="$build/tests/dualrerank_tests"
if [ ! -x "$tests" ]; then
    echo "check_parity: $tests not found (build the dualrerank_tests target first)" >&2
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
    echo "check_parity: PyTorch is not available (tried \$PYTHON, python3, /usr/bin/python3); cannot regenerate fixtures" >&2
    exit 2
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/dualrerank-parity.XXXXXX") || exit 2
trap 'rm -rf "$out"' EXIT INT TERM

echo "check_parity: generating fixtures with $py ($("$py" -c 'import torch; print("torch", torch.__version__)')) in $out"
"$py" "$here/make_fixtures.py" --out "$out" || {
    echo "check_parity: fixture generation failed" >&2
    exit 1
}
"$py" "$here/train_curve.py" --out "$out" || {
    echo "check_parity: training-curve fixture generation failed" >&2
    exit 1
}
echo "check_parity: running $tests [parity]"
DUALRERANK_FIXTURE_DIR="$out" "$tests" "[parity]" "$@"
