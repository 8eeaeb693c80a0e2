"""Medians of scripts/bench/load.sh results (JSON lines) as a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

points = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    points[(r["server"], r["connections"])].append(r)

def med(rows, key):
    return statistics.median(r[key] for r in rows)

print("| clients | ours req/s | ours p50 ms | ours p99 ms | peer req/s | peer p50 ms | peer p99 ms | throughput ratio | non-2xx |")
print("|---|---|---|---|---|---|---|---|---|")
for c in sorted({c for _, c in points}):
    o, p = points[("ours", c)], points[("peer", c)]
    if not o or not p:
        continue
    ratio = med(o, "rps") / med(p, "rps") if med(p, "rps") else float("inf")
    bad = sum(r["non2xx"] + r["errors"] for r in o + p)
    print(f"| {c} | {med(o,'rps'):.2f} | {med(o,'p50_ms'):.0f} | {med(o,'p99_ms'):.0f} | {med(p,'rps'):.2f} | "
          f"{med(p,'p50_ms'):.0f} | {med(p,'p99_ms'):.0f} | {ratio:.2f}x | {bad} |")
print(f"\n(medians of {len(o)} runs; ratio = ours / peer requests per second)")
