#!/usr/bin/env bash
# The checkout reference system as the end-to-end benchmark (docs/benchmarks.md, "Checkout"):
# the event-driven run at the target rate (10,000 orders/s for 60 s on the embedded log), then
# both modes at the same rate with one dependency slowed, then the separate-process deployment,
# and a markdown summary of each run's report.json. Usage: bench/checkout.sh [BUILD_DIR] [RATE] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
RATE=${2:-10000}
SECONDS_=${3:-60}
BIN=$BUILD/bin/wharf-checkout
OUT=${CHECKOUT_BENCH_DIR:-$BUILD/bench-results/checkout}
mkdir -p "$OUT"
summary() {  # summary REPORT.json
  /usr/bin/python3 - "$1" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    print(f"\n**{r['mode']}** ({r['transport']}, {r['target_rate']:.0f} orders/s asked, "
          f"{r['duration_s']:.0f} s; settings: "
          + ", ".join(f"{k} {v}" for k, v in sorted(r['settings'].items())) + ")\n")
    a = r['accept']
    print(f"accepted {r['accepted']} of {r['offered']} ({r['throughput_per_s']:.0f}/s); "
          f"accept latency p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms, max {a['max_ms']:.1f} ms\n")
    print("| group | e2e p50 ms | e2e p99 ms | max lag | final lag | retries | dead letters | duplicates |")
    print("|---|---|---|---|---|---|---|---|")
    for g in r['groups']:
        e = g['e2e']
        print(f"| {g['name']} | {e['p50_ms']:.1f} | {e['p99_ms']:.1f} | {g['max_lag']} | "
              f"{g['final_lag']} | {g['retries']} | {g['dead_letters']} | {g['duplicates']} |")
    if r.get('note'):
        print(f"\nnote: {r['note']}")
PY
}
echo "== checkout: events at $RATE orders/s for $SECONDS_ s"
"$BIN" run --mode events --rate "$RATE" --duration "$SECONDS_" --catch-up 120 \
  --data-dir "$OUT/target" --report-dir "$OUT/target-report" | grep -E '^\[|^==' || true
echo "== checkout: both modes at $RATE orders/s for 20 s, email slowed to 50 ms"
"$BIN" run --mode both --rate "$RATE" --duration 20 --slow email=50ms --catch-up 120 \
  --data-dir "$OUT/convoy" --report-dir "$OUT/convoy-report" | grep -E '^==' || true
echo "== checkout: separate processes (wharf serve + service + six consumers + load) at $RATE orders/s for 20 s"
bash "$(dirname "$0")/../apps/checkout/run-processes.sh" --build "$BUILD" --rate "$RATE" --duration 20 \
  --data-dir "$OUT/processes" | grep -E '^==' || true
echo
echo "## results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
summary "$OUT/target-report/report.json"
summary "$OUT/convoy-report/report.json"
summary "$OUT/processes/report/report.json"
