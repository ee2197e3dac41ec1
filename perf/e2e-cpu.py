#!/usr/bin/env python3
"""Where one reservation's CPU goes: the whole system under `POST /reservations` through the
gateway, and every process's CPU time (user and system, from /proc) divided by the reservations
that succeeded.

    perf/e2e-cpu.py [--engine sqlite|postgres] [--connections 32] [--seconds 15] [--perf NAME] [--repeat N]

It starts its own broker and services from the release binaries (CINEMA_BIN_DIR, as `make bench`),
under .run/bench, with scripts/bench.py's harness, so the figures match the end-to-end section.
`--perf NAME` also records NAME's stacks (`perf record -g`) for the length of one run and prints
the top symbols, to say what that process spends its share on. `--repeat` runs the same load
several times on the same system (the first run warms it).

Read the "ms CPU per reservation" column: the sum over processes is what one reservation costs the
machine; two cores give 2,000 ms of CPU per second, so that sum bounds the throughput.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "..", "scripts", "bench.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User plus system CPU time of `pid` and its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def context_switches(pid):
    """Context switches (voluntary and not) of every thread of `pid` so far."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                total += sum(int(line.split()[1]) for line in f if "ctxt_switches" in line)
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return total


def machine_busy():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def perf_top(pid, seconds, out):
    subprocess.run(["perf", "record", "-F", "499", "-g", "-o", out, "-p", str(pid), "--", "sleep", str(seconds)],
                   capture_output=True, timeout=seconds + 60)
    report = subprocess.run(["perf", "report", "-i", out, "--no-children", "--sort", "dso,symbol", "--stdio",
                             "--percent-limit", "1.5", "-g", "none"], capture_output=True, text=True, timeout=300)
    return [line for line in report.stdout.splitlines() if line.strip() and not line.startswith("#")][:40]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--perf", help="a process to record with perf during the last run")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--target", default="gateway", help="where the load goes: gateway or reservation")
    args = parser.parse_args()

    bin_dir = bench.release_binaries()
    bench.shutil.rmtree(bench.RUN, ignore_errors=True)
    for sub in ["logs", "data"]:
        os.makedirs(os.path.join(bench.RUN, sub))
    processes = bench.Processes()
    postgres = bench.Postgres() if args.engine == "postgres" else None
    try:
        if postgres:
            postgres.start()
        cinema = bench.Cinema(processes, bin_dir, args.engine, postgres and postgres.port)
        cinema.start_broker()
        cinema.start_all()
        status, data = bench.http("POST", cinema.url("gateway") + "/movies", {"desc": "Profile"})
        movie_id = bench.created_id(data)
        pids = {name: process.pid for name, process in cinema.running.items()}
        pids["tansu (broker)"] = next(p.pid for n, p in processes.started if n == "tansu")
        for run in range(1, args.repeat + 1):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            switches_before = {name: context_switches(pid) for name, pid in pids.items()}
            busy_before = machine_busy()
            recording = {}

            def record():
                if args.perf and run == args.repeat:
                    recording["lines"] = perf_top(pids[args.perf], args.seconds // 2,
                                                  os.path.join(bench.RUN, f"perf-{args.perf}.data"))

            result = bench.wrk(cinema.url(args.target) + "/reservations", args.connections, args.seconds, "POST",
                               {"movieId": movie_id}, during=record if args.perf and run == args.repeat else None)
            after = {name: cpu_seconds(pid) for name, pid in pids.items()}
            busy_after = machine_busy()
            succeeded = result["requests"] - result["non2xx"]
            # Wait for the pipeline to drain, so the next run starts from the same state; the CPU
            # the drain takes counts too (it is work the reservations caused).
            bench.wait_for_drained_outboxes(cinema)
            drained = {name: cpu_seconds(pid) for name, pid in pids.items()}
            switches = {name: context_switches(pid) - switches_before[name] for name, pid in pids.items()}
            busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
            print(f"\nrun {run}: {result['rps']:.0f} req/s, p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
                  f"{succeeded} succeeded, {result['errors']} errors; machine busy {busy * 100:.0f}% during the load")
            print(f"{'process':<16} {'CPU % during load':>18} {'ms CPU per reservation (load + drain)':>40}"
                  f" {'context switches per reservation':>34}")
            total = 0
            for name in pids:
                during = (after[name] - before[name]) / args.seconds * 100
                per = (drained[name] - before[name]) * 1000 / max(1, succeeded)
                total += per
                print(f"{name:<16} {during:>17.0f}% {per:>40.2f} {switches[name] / max(1, succeeded):>34.1f}")
            print(f"{'all':<16} {'':>18} {total:>40.2f} {sum(switches.values()) / max(1, succeeded):>34.1f}  (2 cores: at most {2000 / total:.0f} reservations/s)")
            if recording.get("lines"):
                print(f"\nperf, {args.perf}, top symbols:")
                print("\n".join(recording["lines"]))
    finally:
        processes.stop_all()
        if postgres:
            postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
