#!/usr/bin/env bash
# CTest example_demo_expected_labels: dualrerank_demo's oracle diagnostic prints its own banner (never
# the oracle-free one) and marks every trained row "oracle": true in --json; upstream sort stays false.
#   demo_expected_labels_smoke.sh DEMO_BINARY WORK_DIR
set -euo pipefail
demo=$1
dir=$2
mkdir -p "$dir"
"$demo" --expected-labels --quick --logs 2000 --out "$dir/el" --json "$dir/el.json" > "$dir/el.txt"
fail() { echo "demo_expected_labels_smoke: $*" >&2; exit 1; }
grep -q 'Oracle diagnostic (--expected-labels, NOT oracle-free)' "$dir/el.txt" || fail "no diagnostic banner"
if grep -q '^Oracle-free:' "$dir/el.txt"; then fail "the oracle-free banner was printed"; fi
n=$(grep -c '"oracle":true,"diagnostic":"expected_labels"' "$dir/el.json" || true)
[ "$n" = 3 ] || fail "expected 3 trained rows marked oracle, got $n"
grep -q '"policy":"upstream sort".*"oracle":false' "$dir/el.json" || fail "upstream sort is not marked oracle-free"
echo "demo_expected_labels_smoke: ok"
