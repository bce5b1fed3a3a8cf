#!/usr/bin/env bash
# The HTTP service end to end (CTest example_rerank_service, docs/service.md): tiny models from
# the CLI, rerank_service on a free port, rerank_service_client closing the loop, SIGTERM, and the
# saved policy read back.
#   examples/rerank_service_smoke.sh DUALRERANK RERANK_SERVICE RERANK_SERVICE_CLIENT WORKDIR
set -euo pipefail
cli=$(realpath "$1") svc=$(realpath "$2") client=$(realpath "$3") work=$4
mkdir -p "$work"
cd "$work"
rm -f svc.out svc.err served.safetensors
"$cli" export-logs --world small --logs 300 --out logs.jsonl > /dev/null
"$cli" fit-evaluator --logs logs.jsonl --steps 20 --eval-every 10 --out evaluator.safetensors > /dev/null 2>&1
"$cli" train --world small --model student --d 16 --heads 2 --ffn 32 --steps 20 --requests 200 --no-progress \
  --out student.safetensors > /dev/null
"$svc" --model student.safetensors --evaluator evaluator.safetensors --port 0 --group 4 --save served.safetensors > svc.out 2> svc.err &
pid=$!
trap 'kill -9 $pid 2> /dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^listening on' svc.out && break; sleep 0.1; done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' svc.out)
[ -n "$port" ] || { echo "rerank_service did not start:"; cat svc.err; exit 1; }
"$client" --port "$port" --requests 300 --eval-requests 20 | tee client.out
grep -q '^requests 300 (errors 0)' client.out || { echo "client: errors"; exit 1; }
grep -Eq 'version 0 -> [1-9]' client.out || { echo "no policy version was published"; exit 1; }
kill -TERM "$pid"
wait "$pid"
trap - EXIT
grep -q 'saves 1 -> served.safetensors' svc.err || { echo "no save at shutdown:"; cat svc.err; exit 1; }
info=$("$cli" info served.safetensors) || { echo "the saved policy does not load"; exit 1; }
grep -q nar_student <<< "$info" || { echo "the saved policy is not a nar_student:"; echo "$info"; exit 1; }
echo "rerank_service smoke: ok"
