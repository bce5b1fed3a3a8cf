#!/usr/bin/env bash
# The main job: build and run the Dual-Rerank pipeline on the built-in world.
#   tools/demo.sh [--quick] [--seed S] [--seeds K] [--json PATH] [--out DIR] [--verbose]
# Installs missing Debian packages first (tools/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" --target dualrerank_demo
exec build/examples/dualrerank_demo "$@"
