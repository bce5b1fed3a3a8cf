#!/bin/sh
# "Train big elsewhere, serve here", checked end to end on one machine (65 s on a
# shared 2-core VM at load average 7, most of it spent importing torch in ten processes):
#   1. examples/export_world writes requests + target slates of the built-in world (and a LETOR copy);
#   2. python/train_ddp.py trains a teacher (world data) and a student (LETOR data) with DDP,
#      2 processes, gloo; rank 0 writes the model files and the models' greedy slates and logits;
#   3. the same teacher is trained in one process emulating the 2 DDP shards: the loss curves and
#      final weights must agree (DDP's gradient averaging is what one big batch computes);
#   4. examples/load_pytorch_model loads each PyTorch model in C++ (CRC, names, shapes, embedded
#      self-test) and reranks the evaluation requests: slates identical to PyTorch's, logits within
#      1e-4 relative (python/compare_outputs.py);
#   5. the reverse: examples/train_letor trains a teacher and a student in C++; python/load_cpp_model.py
#      loads them into the PyTorch reference and reproduces the C++ slates and logits.
#
#   python/check_ddp.sh <build-dir>     (the examples export_world, load_pytorch_model, train_letor built)
#
# Exit status: 0 all checks pass, 1 a check failed, 2 PyTorch or a program is missing.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 <build-dir>" >&2
    exit 2
fi
build=$1
here=$(cd "$(dirname "$0")" && pwd)
for prog in export_world load_pytorch_model train_letor; do
    if [ ! -x "$build/examples/$prog" ]; then
        echo "check_ddp: $build/examples/$prog not found (build the examples first)" >&2
        exit 2
    fi
done
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
        version=$("$cand" -c "import numpy, torch, torch.distributed.run; print(torch.__version__)" 2>/dev/null); then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "check_ddp: PyTorch (with torch.distributed) is not available (tried \$PYTHON, python3, /usr/bin/python3)" >&2
    exit 2
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/dualrerank-ddp.XXXXXX") || exit 2
trap 'rm -rf "$out"' EXIT INT TERM
start=$(date +%s)
fail=0
step() { echo "== check_ddp [$(( $(date +%s) - start ))s] $*"; }
check() { "$@" || fail=1; }

# torch 1.13's launcher on Python 3.11 (Debian bookworm) cannot parse its own default "--redirects 0"
# (IntFlag iteration skips NONE); redirecting stdout to per-rank logs and teeing it works everywhere.
ddp() {
    OMP_NUM_THREADS=1 "$py" -m torch.distributed.run --standalone --nproc_per_node 2 --redirects 1 --tee 1 \
        --log_dir "$out/logs" "$here/train_ddp.py" "$@" 2>"$out/launcher.err" || {
        cat "$out/launcher.err" >&2
        return 1
    }
}
tiny="--d 16 --heads 2 --enc-layers 1 --dec-layers 1 --ffn 32 --steps 80 --batch 8 --log-every 40"

step "export the built-in world (PyTorch: $py, torch $version)"
"$build/examples/export_world" --out "$out/train.safetensors" --requests 512 --letor "$out/train.txt" || exit 1
"$build/examples/export_world" --out "$out/eval.safetensors" --requests 64 --eval --letor "$out/eval.txt" || exit 1

step "DDP (2 processes, gloo): teacher on the world's requests"
ddp --kind teacher --data "$out/train.safetensors" --eval "$out/eval.safetensors" $tiny \
    --out "$out/teacher.safetensors" --ref-out "$out/teacher.ref.safetensors" --log-json "$out/teacher.ddp.json" || exit 1
step "DDP (2 processes, gloo): student on the LETOR copy"
ddp --kind student --letor "$out/train.txt" --eval-letor "$out/eval.txt" --L 6 $tiny \
    --out "$out/student.safetensors" --ref-out "$out/student.ref.safetensors" || exit 1

step "one process emulating the 2 DDP shards (must equal the DDP run)"
OMP_NUM_THREADS=1 "$py" "$here/train_ddp.py" --kind teacher --data "$out/train.safetensors" $tiny --emulate-ranks 2 \
    --out "$out/teacher.single.safetensors" --log-json "$out/teacher.single.json" >/dev/null || exit 1

step "C++ loads the PyTorch models and reranks the evaluation requests"
"$build/examples/load_pytorch_model" "$out/teacher.safetensors" --requests "$out/eval.safetensors" --print 0 \
    --out "$out/teacher.cpp.safetensors" || exit 1
"$build/examples/load_pytorch_model" "$out/student.safetensors" --letor "$out/eval.txt" --print 0 \
    --out "$out/student.cpp.safetensors" || exit 1
step "compare: PyTorch vs C++ outputs; DDP vs one process"
check "$py" "$here/compare_outputs.py" "$out/teacher.ref.safetensors" "$out/teacher.cpp.safetensors" \
    "$out/student.ref.safetensors" "$out/student.cpp.safetensors" \
    --labels "PyTorch DDP teacher -> C++" "PyTorch DDP student (LETOR) -> C++" \
    --models "$out/teacher.safetensors" "$out/teacher.single.safetensors" \
    --curves "$out/teacher.ddp.json" "$out/teacher.single.json"

step "the reverse: C++-trained models in the PyTorch reference"
"$build/examples/train_letor" "$out/train.txt" "$out/eval.txt" --L 6 --k 6 --steps 150 --d 16 --heads 2 --layers 1 \
    --ffn 32 --save "$out/cpp" || exit 1
check "$py" "$here/load_cpp_model.py" "$out/cpp/teacher.safetensors" "$out/cpp/student.safetensors" \
    --letor "$out/eval.txt" --print 0 \
    --compare "$out/cpp/teacher.outputs.safetensors" "$out/cpp/student.outputs.safetensors"

step "done: $([ $fail -eq 0 ] && echo 'all checks passed' || echo 'FAILED')"
exit $fail
