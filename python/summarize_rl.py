"""Summarize tools/rl_experiments.sh's summary.txt: mean and range of start/final per experiment."""
import re
import sys
from collections import defaultdict


def main():
    rows = defaultdict(list)
    for line in open(sys.argv[1]):
        name = line.split()[0]
        m = re.search(r"start=([0-9.\-]+) final=([0-9.\-]+)", line)
        if m:
            rows[name].append((float(m.group(1)), float(m.group(2))))
    print(f"{'experiment':32s} {'seeds':>5s} {'start':>8s} {'final':>8s} {'final range':>17s}")
    for name, v in rows.items():
        s = sum(a for a, _ in v) / len(v)
        f = sum(b for _, b in v) / len(v)
        print(f"{name:32s} {len(v):5d} {s:8.4f} {f:8.4f}   [{min(b for _, b in v):.4f}, {max(b for _, b in v):.4f}]")


if __name__ == "__main__":
    main()
