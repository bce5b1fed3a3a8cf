"""Summarize tools/rl_experiments.sh's summary.txt: mean and range of start/final per experiment."""
import re
import sys
from collections import defaultdict


def main():
    rows = defaultdict(list)
    for line in open(sys.argv[1]):
        name = line.split()[0]
        m = re.search(r"anchor_final=([0-9.\-]+) final=([0-9.\-]+) requests_to_recover=(-?[0-9]+)", line)
        if m:
            rows[name].append((float(m.group(1)), float(m.group(2)), int(m.group(3))))
    print(f"{'experiment':32s} {'seeds':>5s} {'SKD start':>9s} {'final':>8s} {'final range':>17s} {'recover (req)':>14s}")
    for name, v in rows.items():
        s = sum(a for a, _, _ in v) / len(v)
        f = sum(b for _, b, _ in v) / len(v)
        rec = [c for _, _, c in v]
        print(f"{name:32s} {len(v):5d} {s:9.4f} {f:8.4f}   [{min(b for _, b, _ in v):.4f}, {max(b for _, b, _ in v):.4f}] "
              f"{str(rec):>14s}")


if __name__ == "__main__":
    main()
