#!/usr/bin/env python3
"""The disk's own produce-latency floor: an ideal group commit with no broker in the way.

One thread appends 1 KiB records to a new file in --dir at a fixed rate (record i is due at
start + i/rate, as `wharf bench produce --rate` schedules them); another calls fdatasync in a
loop, and each sync makes durable every record written before it began. A record's latency runs
from its scheduled time to the end of the sync that covered it, which is what a producer with
linger.ms=0 and acks=all waits for under `sync.policy=always` when the broker itself costs
nothing. --busy N keeps N more processes spinning meanwhile, to show what the same disk does
when the CPUs are busy (a broker and its client at 10,000 records/s keep both of this VM's CPUs
about 80% busy). --syncers N runs N syncing threads at once, to see whether overlapping syncs of
one file would shorten the wait (on this VM they do not).

Prints one JSON object: the rate kept, latency percentiles (ms), and the fdatasyncs' count, mean,
number over 10 ms and slowest. bench/broker.sh runs it beside its latency runs; it also runs
alone:  python3 bench/sync_probe.py --dir build/bench-data --rate 10000 --seconds 10 --busy 1
"""
import argparse
import json
import multiprocessing
import os
import sys
import threading
import time


def spin(stop):
    while not stop.is_set():
        for _ in range(100_000):
            pass


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="directory for the probe's file (removed after)")
    ap.add_argument("--rate", type=int, required=True, help="records per second (1 KiB each)")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the run (default 10)")
    ap.add_argument("--busy", type=int, default=0, help="spinning processes meanwhile (default 0)")
    ap.add_argument("--syncers", type=int, default=1,
                    help="threads calling fdatasync in a loop (default 1); a record is covered "
                         "by the first sync to start after it was written")
    args = ap.parse_args()
    if (args.rate <= 0 or args.seconds <= 0 or args.busy < 0 or args.busy > 64
            or args.syncers < 1 or args.syncers > 16):
        ap.error("--rate and --seconds must be positive, --busy 0..64, --syncers 1..16")

    path = os.path.join(args.dir, f"sync-probe-{os.getpid()}.dat")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    stop_spin = multiprocessing.Event()
    spinners = [multiprocessing.Process(target=spin, args=(stop_spin,)) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    record = b"x" * 1024
    due = []          # scheduled time of each record written so far
    covered = []      # (records covered, end of the sync) per sync
    syncs = []        # fdatasync durations, s
    done = threading.Event()

    def syncer():
        while True:
            last = done.is_set()
            n = len(due)  # every record written before this sync starts
            t = time.perf_counter()
            os.fdatasync(fd)
            end = time.perf_counter()
            syncs.append(end - t)
            covered.append((n, end))
            if last:
                return

    try:
        threads = [threading.Thread(target=syncer) for _ in range(args.syncers)]
        start = time.perf_counter()
        for th in threads:
            th.start()
        i = 0
        while True:
            when = start + i / args.rate
            if when - start >= args.seconds:
                break
            now = time.perf_counter()
            if now < when:
                time.sleep(when - now)
            os.write(fd, record)
            due.append(when)
            i += 1
        done.set()
        for th in threads:
            th.join()
    finally:
        stop_spin.set()
        for p in spinners:
            p.join()
        os.close(fd)
        os.unlink(path)

    latencies = []
    first = 0
    for n, end in sorted(covered, key=lambda c: c[1]):  # each record: the first sync to end
        latencies.extend(end - due[j] for j in range(first, n))
        first = max(first, n)
    latencies.sort()
    syncs.sort()
    ms = 1e3
    out = {
        "rate_offered": args.rate,
        "busy": args.busy,
        "syncers": args.syncers,
        "records": len(due),
        "latency_ms_p50": percentile(latencies, 0.50) * ms,
        "latency_ms_p99": percentile(latencies, 0.99) * ms,
        "latency_ms_max": (latencies[-1] if latencies else 0.0) * ms,
        "syncs": len(syncs),
        "sync_ms_mean": sum(syncs) / len(syncs) * ms if syncs else 0.0,
        "syncs_over_10ms": sum(1 for s in syncs if s > 0.010),
        "sync_ms_max": (syncs[-1] if syncs else 0.0) * ms,
    }
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
