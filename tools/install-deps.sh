#!/usr/bin/env bash
# Install what the build needs on Debian/Ubuntu (as root, or with sudo), only when missing.
#   tools/install-deps.sh            build + test + bench dependencies (cpp-httplib: the HTTP service
#                                    example and its tests, examples/rerank_service, docs/service.md)
#   tools/install-deps.sh --torch    also the PyTorch reference (python3-torch, python3-numpy)
#   tools/install-deps.sh --compare  also what bench/compare.sh needs (PyTorch, OpenBLAS, Node.js with npm)
#   tools/install-deps.sh --service  also wrk, for examples/rerank_service_bench.sh
#   tools/install-deps.sh --plots    also matplotlib (python3-matplotlib), for the documentation's plots
#                                    (python/learning_curve.py, python/plot_rl.py, tools/rl_experiments.sh)
set -euo pipefail
want=(cmake g++ make libeigen3-dev libxsimd-dev catch2 libbenchmark-dev libcpp-httplib-dev)
for arg in "$@"; do
  case "$arg" in
    --torch) want+=(python3-torch python3-numpy) ;;
    --compare) want+=(python3-torch python3-numpy libopenblas0-serial nodejs)
               command -v npm >/dev/null || want+=(npm) ;;  # some nodejs builds ship npm
    --fuzz) want+=(clang libclang-rt-14-dev) ;;
    --plots) want+=(python3-matplotlib) ;;
    --service) want+=(wrk) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "install-deps: installing ${missing[*]}" >&2
if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing packages ${missing[*]} and no apt-get; install them by hand" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
