#!/usr/bin/env python3
"""Where the slowest visits of `cargo bench --bench visit_api` spent their time.

Run the bench under a system-wide `perf record` on the monotonic clock, with the bench writing
each visit's window (`BENCH_WINDOWS`):

    perf record -a -k CLOCK_MONOTONIC -e sched:sched_switch -e sched:sched_wakeup \
        -e cpu-clock -F 2000 -o perf.data -- env BENCH_WINDOWS=windows.txt \
        cargo bench --bench visit_api
    perf script -i perf.data -F comm,tid,cpu,time,event,ip,sym,trace > perf.txt
    python3 benches/stall_windows.py perf.txt windows.txt [N]

For each of the N slowest visits (default 6) it prints, relative to the visit's start, every
context switch and wake-up on both cores and the on-CPU samples per thread: a thread that is
runnable (`R`) while another process holds its core is scheduling; a worker that runs one
function for many milliseconds is a blocked runtime; no thread of ours running at all is a wait
on the network or a timer. `windows.txt` lines: whole visit in µs, then the CLOCK_MONOTONIC
nanoseconds of the visit's start, the end of create, of presettle and of confirm.
"""
import collections
import re
import sys

SWITCH = re.compile(
    r"prev_comm=(.+?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.+?) next_pid=(\d+)"
)
LINE = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(?:\d+\s+)?([\w:-]+):\s*(.*)$")


def main():
    script, windows = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    wins = []
    with open(windows) as f:
        for line in f:
            us, *marks = line.split()
            wins.append((int(us), [int(m) / 1e9 for m in marks]))
    wins.sort(reverse=True)
    print("median visit", sorted(w[0] for w in wins)[len(wins) // 2], "µs")
    events = []
    with open(script, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                comm, tid, cpu, t, ev, rest = m.groups()
                events.append((float(t), int(cpu), comm, int(tid), ev, rest))
    events.sort()
    for us, (t0, t1, t2, t3) in wins[:n]:
        print(
            f"\n=== visit {us / 1000:.1f} ms: create {1000 * (t1 - t0):.1f}, "
            f"presettle {1000 * (t2 - t1):.1f}, confirm {1000 * (t3 - t2):.1f}"
        )
        samples = collections.defaultdict(collections.Counter)
        for t, cpu, comm, tid, ev, rest in events:
            if t < t0 - 0.002 or t > t3 + 0.001:
                continue
            rel = 1000 * (t - t0)
            if ev == "sched:sched_switch":
                m = SWITCH.search(rest)
                if m:
                    pc, pp, ps, nc, np_ = m.groups()
                    print(f"{rel:8.2f} cpu{cpu} {pc}/{pp}({ps}) -> {nc}/{np_}")
            elif ev == "sched:sched_wakeup":
                print(f"{rel:8.2f} cpu{cpu} wake {rest.split(' target_cpu')[0]}")
            elif ev.startswith("cpu-clock"):
                words = rest.split()
                samples[f"{comm}/{tid}"][(words[1] if len(words) > 1 else rest)[:70]] += 1
        for thread, c in samples.items():
            print("  on cpu", thread, sum(c.values()), c.most_common(5))


if __name__ == "__main__":
    main()
