#!/usr/bin/env python3
"""Train the PyTorch reference's teacher or student with DistributedDataParallel and write a
model file the C++ library loads unchanged.

Launch (2 processes on one machine; gloo on CPU, NCCL when CUDA is available):

    python3 -m torch.distributed.run --standalone --nproc_per_node 2 python/train_ddp.py \\
        --kind teacher --data train.safetensors --eval eval.safetensors --out teacher.safetensors

(torch 1.13 with Python 3.11, e.g. Debian bookworm: add `--redirects 1 --tee 1` after `run`, see
docs/pytorch.md.) Without a launcher it trains in one process. Across nodes use the usual
`--nnodes/--rdzv_*` arguments of torch.distributed.run; nothing here depends on the machine count.

Data: a request set with target slates (`--data`, written by examples/export_world from the
built-in world, layout in dualrerank_ref/dataset.py) or a LETOR file (`--letor`, strict reader
dualrerank_ref/letor.py; targets = the top L documents by label, ties in file order; queries
with fewer than L documents are skipped).

Training is the C++ trainer's supervised step (train::teacher_ce_step / student_ce_step): the
loss is the mean over the batch of the per-request sum over slots of -log softmax(Z_t)[y_t], the
teacher teacher-forced, the student with the prefix masked; AdamW with weight decay on the
nn.Linear weights only, the C++ learning-rate schedule and clipping formula (python/train_curve.py).
Each process draws its share of every epoch from a DistributedSampler (seeded, drop_last) and
DDP averages the gradients, so one step sees `--batch x world_size` requests. All processes build
the model from the same seed; DDP also broadcasts rank 0's weights at the start.

Rank 0 writes `--out` with save_model (float32, the C++ tensor names and __metadata__, CRC-32,
and the self-test probe computed by this PyTorch model, which io::load_model recomputes) and, with
`--ref-out`, the model's greedy slates and logits on the evaluation requests (computed in float64
from the saved float32 weights) for the C++ comparison (python/check_ddp.sh).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dualrerank_ref.dataset import (RequestSet, letor_requests, min_margin, read_requests, run_model,  # noqa: E402
                                    write_outputs)
from dualrerank_ref.letor import top_by_label  # noqa: E402
from dualrerank_ref.model_io import save_model  # noqa: E402
from dualrerank_ref.models import ModelConfig, make_model, pack  # noqa: E402
from train_curve import decay_names, learning_rate  # noqa: E402

KINDS = {"teacher": "ar_teacher", "student": "nar_student"}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_argument_group("data")
    src.add_argument("--data", help="training request set with targets (export_world)")
    src.add_argument("--letor", help="training LETOR file (qid: or with --letor-group)")
    src.add_argument("--letor-group", help="group (query size) file of --letor")
    src.add_argument("--eval", help="evaluation request set (for --ref-out)")
    src.add_argument("--eval-letor", help="evaluation LETOR file (width pinned to the training file's)")
    src.add_argument("--eval-requests", type=int, default=64,
                     help="without --eval/--eval-letor: the first K training requests (default 64)")
    m = ap.add_argument_group("model")
    m.add_argument("--kind", choices=sorted(KINDS), required=True)
    m.add_argument("--L", type=int, default=0, help="slate length (default: the targets' length; LETOR: 10)")
    m.add_argument("--d", type=int, default=32)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--enc-layers", type=int, default=2)
    m.add_argument("--dec-layers", type=int, default=2)
    m.add_argument("--ffn", type=int, default=128)
    m.add_argument("--max-candidates", type=int, default=0, help="default: the largest request seen")
    m.add_argument("--rank-embedding", action="store_true", help="use the upstream ranks (request sets only)")
    t = ap.add_argument_group("training")
    t.add_argument("--steps", type=int, default=500)
    t.add_argument("--batch", type=int, default=16, help="requests per process per step")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--warmup", type=int, default=-1, help="warmup steps (default: min(200, steps / 10))")
    t.add_argument("--clip-norm", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--emulate-ranks", type=int, default=1,
                   help="in one process, form every step's batch from W DistributedSampler shards exactly as W "
                        "DDP processes would (for checking DDP against one process)")
    t.add_argument("--log-every", type=int, default=50)
    t.add_argument("--log-json", help="rank 0 writes the per-step loss curve here")
    o = ap.add_argument_group("output")
    o.add_argument("--out", required=True, help="model file (safetensors) written by rank 0")
    o.add_argument("--ref-out", help="rank 0 writes the greedy slates and logits on the evaluation requests here")
    a = ap.parse_args(argv)
    if (a.data is None) == (a.letor is None):
        ap.error("give exactly one of --data and --letor")
    if a.eval and a.eval_letor:
        ap.error("give at most one of --eval and --eval-letor")
    if a.steps < 1 or a.batch < 1 or a.emulate_ranks < 1:
        ap.error("--steps, --batch and --emulate-ranks must be >= 1")
    return a


def load_data(a):
    """(train RequestSet with targets, eval RequestSet, L)."""
    if a.data:
        train = read_requests(a.data)
        if train.targets is None:
            raise ValueError(f"{a.data}: no data.targets")
        L = a.L or train.L
        if not 1 <= L <= train.L:
            raise ValueError(f"--L {L} must be in [1, {train.L}] (the targets' length)")
        train.targets = train.targets[:, :L]
    else:
        train = letor_requests(a.letor, a.letor_group)
        L = a.L or 10
        keep = [i for i in range(len(train)) if train.features[i].shape[0] >= L]
        if not keep:
            raise ValueError(f"{a.letor}: no query has at least L = {L} documents")
        train = train.subset(keep)
        train.targets = np.array([top_by_label(lab, L) for lab in train.labels], dtype=np.int64)
    if a.eval:
        ev = read_requests(a.eval)
    elif a.eval_letor:
        ev = letor_requests(a.eval_letor, width=train.features[0].shape[1])
    else:
        ev = train.subset(range(min(a.eval_requests, len(train))))
    ev = ev.subset([i for i in range(len(ev)) if ev.features[i].shape[0] >= L])
    if a.rank_embedding and (train.ranks is None or ev.ranks is None):
        raise ValueError("--rank-embedding needs upstream ranks in the training and evaluation requests")
    return train, ev, L


def make_config(a, train: RequestSet, ev: RequestSet, L: int) -> ModelConfig:
    F = train.features[0].shape[1]
    Fc = 0 if train.context is None else train.context.shape[1]
    for rs, what in ((ev, "evaluation"),):
        if rs.features[0].shape[1] != F or (0 if rs.context is None else rs.context.shape[1]) != Fc:
            raise ValueError(f"the {what} requests have another feature or context width than the training requests")
    nmax = max(f.shape[0] for f in train.features + ev.features)
    return ModelConfig(features=F, context=Fc, d=a.d, heads=a.heads, enc_layers=a.enc_layers,
                       dec_layers=a.dec_layers, ffn=a.ffn, max_slate=L, max_candidates=a.max_candidates or nmax,
                       rank_embedding=a.rank_embedding).validate()


def batch_loss(model, kind: str, reqs, tgt: torch.Tensor, L: int, device) -> torch.Tensor:
    """train::teacher_ce_step / student_ce_step: mean over the batch of the summed slot NLL."""
    x, ctx, rank, valid = pack(reqs, torch.float32)
    x, valid = x.to(device), valid.to(device)
    ctx = None if ctx is None else ctx.to(device)
    rank = None if rank is None else rank.to(device)
    tgt = tgt.to(device)
    B = x.shape[0]
    if kind == "teacher":
        Z = model(x, ctx, rank, valid, tgt)  # prefix already -inf
    else:
        Z = model(x, ctx, rank, valid, L)
        chosen = torch.zeros(B, L, x.shape[1], dtype=torch.bool, device=device)
        rows = torch.arange(B, device=device)
        for p in range(1, L):
            chosen[rows, p:, tgt[:, p - 1]] = True
        Z = Z.masked_fill(chosen, float("-inf"))
    nll = -torch.log_softmax(Z, dim=-1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    return nll.sum(dim=1).mean()


def main(argv=None) -> int:
    a = parse_args(argv)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world > 1
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank = dist.get_rank()
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local) if backend == "nccl" else torch.device("cpu")
        if backend == "nccl":
            torch.cuda.set_device(device)
        if a.emulate_ranks != 1:
            raise SystemExit("--emulate-ranks is for single-process runs")
    else:
        backend, rank, device = "none", 0, torch.device("cpu")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    say = (lambda *x: print(*x, flush=True)) if rank == 0 else (lambda *x: None)

    train, ev, L = load_data(a)
    cfg = make_config(a, train, ev, L)
    kind = KINDS[a.kind]
    torch.manual_seed(a.seed)  # the same initial weights in every process
    model = make_model(kind, cfg).to(device)
    decay = set(decay_names(model))
    params = dict(model.named_parameters())
    groups = [{"params": [p for n, p in params.items() if n in decay], "weight_decay": a.weight_decay},
              {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = {"lr": a.lr, "warmup_steps": a.warmup if a.warmup >= 0 else min(200, a.steps // 10),
             "total_steps": a.steps, "min_lr_ratio": 0.1}
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    shards = world if distributed else a.emulate_ranks
    my_shards = [rank] if distributed else list(range(shards))
    samplers = [torch.utils.data.distributed.DistributedSampler(range(len(train)), num_replicas=shards, rank=r,
                                                                shuffle=True, seed=a.seed, drop_last=True)
                for r in my_shards]
    per_epoch = len(samplers[0]) // a.batch
    if per_epoch < 1:
        raise SystemExit(f"{len(train)} requests are too few for {shards} x {a.batch} per step")
    say(f"train_ddp: {kind} {cfg.to_json()}; {sum(p.numel() for p in model.parameters())} parameters")
    say(f"train_ddp: backend {backend}, {world} process(es){f' (emulating {shards})' if shards > world else ''}, "
        f"batch {a.batch} x {shards} per step, {len(train)} requests ({per_epoch} steps per epoch), L {L}, "
        f"{a.steps} steps")
    reqs = [train.request(i, torch.float32) for i in range(len(train))]
    targets = torch.from_numpy(train.targets).long()
    plist = list(model.parameters())
    curve = []
    t0 = time.time()
    step, epoch = 0, 0
    while step < a.steps:
        for s in samplers:
            s.set_epoch(epoch)
        orders = [list(s) for s in samplers]
        for k in range(per_epoch):
            if step >= a.steps:
                break
            opt.zero_grad(set_to_none=False)
            loss_sum = 0.0
            for order in orders:  # one shard per process; several when emulating
                idx = order[k * a.batch:(k + 1) * a.batch]
                loss = batch_loss(net, a.kind, [reqs[i] for i in idx], targets[idx], L, device) / len(orders)
                loss.backward()
                loss_sum += float(loss)
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in plist))
            if a.clip_norm > 0 and norm > a.clip_norm:  # the C++ formula (train::adamw)
                for p in plist:
                    p.grad.mul_(a.clip_norm / norm)
            lr = learning_rate(sched, step)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.step()
            if distributed:
                lt = torch.tensor([loss_sum], dtype=torch.float64, device=device)
                dist.all_reduce(lt)
                loss_sum = float(lt) / world
            curve.append(loss_sum)
            step += 1
            if a.log_every > 0 and (step % a.log_every == 0 or step == a.steps):
                secs = time.time() - t0
                say(f"  step {step}/{a.steps}  loss {loss_sum:.4f}  grad norm {norm:.3f}  lr {lr:.2e}  "
                    f"{step * a.batch * shards / secs:.0f} req/s  ETA {secs / step * (a.steps - step):.0f}s")
        epoch += 1
    secs = time.time() - t0
    if distributed:  # every process must hold the same weights after DDP's averaged updates
        flat = torch.cat([p.detach().reshape(-1).double() for p in plist])
        lo, hi = flat.clone(), flat.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        spread = float((hi - lo).abs().max())
        say(f"train_ddp: weights identical across processes: {spread == 0.0} (max spread {spread:.3g})")
        if spread != 0.0:
            raise SystemExit("train_ddp: processes disagree on the weights")

    if rank == 0:
        cpu_model = copy.deepcopy(model).cpu().float()
        meta = {"trainer": "python/train_ddp.py", "processes": str(shards), "backend": backend,
                "steps": str(a.steps), "batch_per_process": str(a.batch), "seed": str(a.seed),
                "data": os.path.basename(a.data or a.letor), "torch": torch.__version__}
        save_model(cpu_model, a.out, dtype=torch.float32, extra_metadata=meta)
        say(f"train_ddp: {secs:.1f}s, final loss {curve[-1]:.4f}; wrote {a.out}")
        if a.ref_out:
            margins = []
            ref = run_model(cpu_model.double(), ev, L, margins)  # float64 math on the saved float32 weights
            write_outputs(a.ref_out, ref, "pytorch", {"model": os.path.basename(a.out)})
            say(f"train_ddp: reference outputs on {len(ev)} requests -> {a.ref_out} "
                f"(smallest greedy decision margin {min_margin(margins):.3g})")
        if a.log_json:
            with open(a.log_json, "w") as f:
                json.dump({"loss": curve, "seconds": secs, "processes": shards}, f)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
