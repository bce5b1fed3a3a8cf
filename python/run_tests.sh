#!/usr/bin/env bash
# Run the PyTorch reference's own tests (python/tests, unittest) with the first interpreter that can
# import torch and numpy ($PYTHON, python3, /usr/bin/python3; tools/install-deps.sh --torch
# installs Debian's). Fails when no interpreter has PyTorch or when no test ran.
set -euo pipefail
cd "$(dirname "$0")"
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import torch, numpy" >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "run_tests: PyTorch is not available (tried \$PYTHON, python3, /usr/bin/python3)" >&2
    exit 2
fi
log=$(mktemp "${TMPDIR:-/tmp}/dualrerank-pytests.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
"$py" -m unittest discover -s tests -p 'test_*.py' -v >"$log" 2>&1 || status=$?
cat "$log"
if grep -q '^Ran 0 tests' "$log"; then
    echo "run_tests: no test ran" >&2
    exit 1
fi
exit "$status"
