#!/usr/bin/env bash
# Run the whole test suite once against the generated single header instead of include/.
#   tools/test_single_header.sh                 check the committed single header is fresh, then test it
#   tools/test_single_header.sh --regenerate    regenerate it first (python3 tools/amalgamate.py)
# Configures build-single-header/ (tests only: no benchmarks, examples, install or consumer
# projects) with -DDUALRERANK_TEST_HEADER=<single header>; every <dualrerank/...> include of the
# tests resolves to the single header (see the packaging block of tests/CMakeLists.txt).
# JOBS=<n> sets the build and test parallelism (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
regenerate=0
for arg in "$@"; do
  case "$arg" in
    --regenerate) regenerate=1 ;;
    *) echo "test_single_header.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
if [ "$regenerate" = 1 ]; then
  python3 tools/amalgamate.py
elif ! python3 tools/amalgamate.py --check; then
  echo "test_single_header.sh: the single header is stale; run python3 tools/amalgamate.py (or pass --regenerate)" >&2
  exit 1
fi
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
dir=build-single-header
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_TESTS=ON -DDUALRERANK_BUILD_BENCH=OFF \
      -DDUALRERANK_BUILD_EXAMPLES=OFF -DDUALRERANK_INSTALL=OFF -DDUALRERANK_TEST_CONSUMERS=OFF \
      "-DDUALRERANK_TEST_HEADER=$PWD/single_include/dualrerank/dualrerank.hpp" >/dev/null
cmake --build "$dir" --target dualrerank_tests -j "$jobs"
cd "$dir"
ctest --output-on-failure -j "$jobs"
