#!/usr/bin/env bash
# Build and run the whole test suite (the README's test command).
#   tools/test.sh            Release build in build/ (tests and examples; benchmarks: tools/bench.sh), all tests through CTest
#   tools/test.sh --asan     the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   tools/test.sh --tsan     ThreadSanitizer (build-tsan/)
#   --filter REGEX           build only the test binary and run only the tests whose names match
#                            (ctest -R), e.g. tools/test.sh --tsan --filter '^threads|allocates nothing' (the CI TSan job)
#   --exclude REGEX          skip the tests whose names match (ctest -E), e.g. the finite-difference
#                            gradient checks under the sanitizers (numerics only, minutes under ASan)
#   --files 'a.cpp b.cpp'    compile only these tests/test_*.cpp files into the test binary (a quick
#                            sanitizer job); default: all of them
# Installs missing Debian packages first (tools/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=release
filter=
exclude=
files=
while [ $# -gt 0 ]; do
  case "$1" in
    --asan) mode=asan ;;
    --tsan) mode=tsan ;;
    --filter) [ $# -ge 2 ] || { echo "test.sh: --filter needs a regex" >&2; exit 2; }; filter=$2; shift ;;
    --filter=*) filter=${1#--filter=} ;;
    --exclude) [ $# -ge 2 ] || { echo "test.sh: --exclude needs a regex" >&2; exit 2; }; exclude=$2; shift ;;
    --exclude=*) exclude=${1#--exclude=} ;;
    --files) [ $# -ge 2 ] || { echo "test.sh: --files needs a list of test files" >&2; exit 2; }; files=$2; shift ;;
    --files=*) files=${1#--files=} ;;
    *) echo "test.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
tools/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
case "$mode" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_BENCH=OFF) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_BENCH=OFF -DDUALRERANK_BUILD_EXAMPLES=OFF -DDUALRERANK_TEST_CONSUMERS=OFF
        "-DCMAKE_CXX_FLAGS_RELEASE=-O1" "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer") ;;
  tsan) dir=build-tsan; flags=(-DCMAKE_BUILD_TYPE=Release -DDUALRERANK_BUILD_BENCH=OFF -DDUALRERANK_BUILD_EXAMPLES=OFF -DDUALRERANK_TEST_CONSUMERS=OFF
        "-DCMAKE_CXX_FLAGS_RELEASE=-O1" "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer") ;;
esac
files=$(echo "$files" | tr ', \t\n' ';;;;' | sed 's/;;*/;/g; s/^;//; s/;$//')
cmake -S . -B "$dir" "${flags[@]}" "-DDUALRERANK_TEST_FILES=$files" >/dev/null
target=()
[ -z "$filter" ] || target=(--target dualrerank_tests)
cmake --build "$dir" -j "$jobs" ${target[@]+"${target[@]}"}
cd "$dir"
select=()
[ -z "$filter" ] || select=(-R "$filter" --no-tests=error)  # a filter that matches nothing fails
[ -z "$exclude" ] || select+=(-E "$exclude")
ctest --output-on-failure -j "$jobs" ${select[@]+"${select[@]}"}
