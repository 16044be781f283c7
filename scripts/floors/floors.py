#!/usr/bin/env python3
"""Side-by-side floors: each operation stopbench performs, beside a minimal C
loop doing the same on the same machine, interleaved, repeated; prints the
medians, their spread and the ratio against each row's target, and
writes reports/floors.json (later runs record it in their run.json).

The C loops run only as PID 1 of a PID namespace of their own (unshare).
"""
import json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "scripts", "floors")
REPS = int(os.environ.get("FLOORS_REPS", "5"))
# Seconds of rest after the rows with 5,000 processes (see `measure`).
SETTLE_S = 30


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def in_namespace(args, pid_max=None):
    """Runs the C floor program as PID 1 of a new PID namespace."""
    inner = " ".join(args)
    if pid_max:
        inner = f"echo {pid_max} > /proc/sys/kernel/pid_max; exec {inner}"
    else:
        inner = f"exec {inner}"
    prefix = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return sh(["unshare", *prefix, "--pid", "--fork", "--mount-proc", "sh", "-c", inner], cwd=tempfile.gettempdir())


def stopbench_run(exe, scenario, out, extra=()):
    start = time.monotonic()
    subprocess.run([exe, "run", scenario, "--quiet", "--out", out, *extra], check=True)
    wall = time.monotonic() - start
    with open(os.path.join(out, "run.json")) as f:
        return json.load(f), wall


def main():
    # Run directories and the compiled C floors live in a scratch directory,
    # removed however the run ends.
    work = tempfile.mkdtemp(prefix="stopbench-floors-")
    try:
        measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(work):
    rss = "--rss" in sys.argv
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "stopbench")
    floors = os.path.join(work, "floors")
    subprocess.run(["cc", "-O2", "-o", floors, os.path.join(HERE, "floors.c")], check=True)
    rows = {k: ([], []) for k in ["churn", "wrap", "reuse", "stop", "throughput", "crowd", "scan"]}
    fixed_ms = []
    for rep in range(REPS):
        print(f"repetition {rep + 1}/{REPS}", file=sys.stderr)
        # 1. churn at "max" vs the vfork/_exit/reap loop
        rows["churn"][0].append(float(in_namespace([floors, "vfork", "30000"])))
        meta, _ = stopbench_run(exe, os.path.join(HERE, "churn-max.toml"), os.path.join(work, f"churn{rep}"))
        rows["churn"][1].append(meta["churn"]["achieved_rate"])
        # 2. PID space cycle at pid_max 1024 (time between the first two wraps)
        rows["wrap"][0].append(float(in_namespace([floors, "wrap"], pid_max=1024)))
        rows["wrap"][1].append(meta["churn"]["first_reuse_after_ms"])
        # 3. forced reuse of a chosen PID (clone3 set_tid), p50
        rows["reuse"][0].append(float(in_namespace([floors, "settid", "2000"])))
        meta, _ = stopbench_run(exe, os.path.join(HERE, "forced-reuse.toml"), os.path.join(work, f"reuse{rep}"))
        rows["reuse"][1].append(meta["churn"]["forced_reuse_p50_us"])
        # 4./5. pidfd stop of an instantly exiting victim (same binary, same
        # signal), and trials/s of the trial loop (run.json's pace: first
        # trial record to last, as the C loop has no start-up either)
        p50_us, rate = map(float, in_namespace([floors, "victim", exe, "300"]).split())
        rows["stop"][0].append(p50_us)
        rows["throughput"][0].append(rate)
        meta, wall = stopbench_run(exe, os.path.join(HERE, "pidfd-stop.toml"), os.path.join(work, f"stop{rep}"))
        pidfd = next(s for s in meta["strategies"] if s["strategy"] == "pidfd")
        rows["stop"][1].append(pidfd["p50_ms"] * 1000)
        pace = meta["pace"]["trials_per_s"]
        rows["throughput"][1].append(pace)
        # What a run costs beside its trials: start-up, the host sample, the report.
        fixed_ms.append((wall - pidfd["trials"] / pace) * 1000)
        # 6. the same loop with 5,000 idle bystanders: its floor is the loop without
        meta, _ = stopbench_run(exe, os.path.join(HERE, "crowd-pidfd.toml"), os.path.join(work, f"crowd{rep}"))
        rows["crowd"][0].append(pace)
        rows["crowd"][1].append(meta["pace"]["trials_per_s"])
        # 7. one /proc scan at those 5,000 processes: stopbench's in-sandbox floor vs C's
        c_ms, _seen = in_namespace([floors, "procscan", "5000"]).split()
        rows["scan"][0].append(float(c_ms))
        rows["scan"][1].append(meta["churn"]["proc_scan_us"] / 1000)
        # The kernel's cleanup after 5,000 processes slows every process on
        # this kind of VM for some seconds (measured: pidfd stop p50 0.40 ms
        # and 0.18 ms, 3 s and 20 s after such a run): the next repetition
        # starts on a machine at rest.
        if rep + 1 < REPS:
            time.sleep(SETTLE_S)
    targets = {
        "churn": ("churn at rate=\"max\" vs vfork/_exit/reap (spawns/s)", "stopbench/C >= 0.8", lambda r: r >= 0.8),
        "wrap": ("PID space cycle at pid_max 1024 (ms)", "stopbench/C <= 1.5", lambda r: r <= 1.5),
        "reuse": ("forced reuse of a chosen PID, p50 (us)", "stopbench/C <= 2.0", lambda r: r <= 2.0),
        "stop": ("pidfd stop of an exiting victim, p50 (us)", "stopbench/C <= 1.2", lambda r: r <= 1.2),
        "throughput": ("trials/s, pidfd + exit-on-term (trial loop)", "stopbench/C >= 0.8", lambda r: r >= 0.8),
        "crowd": ("trials/s with 5,000 idle bystanders (floor: with none)", "crowd/none >= 0.5", lambda r: r >= 0.5),
        "scan": ("one /proc scan at 5,000 processes (ms)", "stopbench/C <= 1.5", lambda r: r <= 1.5),
    }
    report = {"repetitions": REPS, "kernel": os.uname().release, "cores": os.cpu_count(), "operations": {}}
    print(f"\n{'operation':64} {'floor':>18} {'stopbench':>18} {'ratio':>6}  target")
    for key, (c, sb) in rows.items():
        label, target, ok = targets[key]
        mc, ms = statistics.median(c), statistics.median(sb)
        ratio = ms / mc
        report["operations"][key] = {
            "what": label, "c_floor": c, "stopbench": sb, "c_median": mc, "stopbench_median": ms,
            "ratio": ratio, "target": target, "met": ok(ratio),
        }
        spread = lambda v: f"{statistics.median(v):.1f} [{min(v):.0f}-{max(v):.0f}]"
        print(f"{label:64} {spread(c):>18} {spread(sb):>18} {ratio:6.2f}  {target} {'ok' if ok(ratio) else 'NOT MET'}")
    spread = lambda v: f"{statistics.median(v):.0f} [{min(v):.0f}-{max(v):.0f}]"
    print(f"\nfixed cost of a run (start-up, 0.5 s host sample, report), ms: {spread(fixed_ms)}")
    report["fixed_cost_ms"] = fixed_ms
    if rss:
        # Peak RSS of the whole stopbench process tree of each run, from wait4.
        # Peak RSS of the whole stopbench process tree of each run, from
        # wait4: without bystanders, and with 5,000 of them.
        for name in ("pidfd-stop", "crowd-pidfd"):
            peaks = {}
            for trials in (10_000, 100_000):
                out = os.path.join(work, f"rss-{name}-{trials}")
                proc = subprocess.Popen([exe, "run", os.path.join(HERE, f"{name}.toml"), "--quiet", "--trials", str(trials), "--out", out])
                _, status, usage = os.wait4(proc.pid, 0)
                assert status == 0, f"run of {trials} trials failed"
                peaks[trials] = usage.ru_maxrss
                print(f"{name}: peak RSS over {trials:>7} trials: {usage.ru_maxrss / 1024:.1f} MiB")
            growth = peaks[100_000] / peaks[10_000] - 1
            met = peaks[100_000] <= 64 * 1024 and growth <= 0.10
            print(f"{name}: growth from 10,000 to 100,000 trials: {growth * 100:+.1f}% (target: <= 64 MiB and within 10%) {'ok' if met else 'NOT MET'}")
            report.setdefault("peak_rss_kib", {})[name] = peaks
    os.makedirs(os.path.join(ROOT, "reports"), exist_ok=True)
    with open(os.path.join(ROOT, "reports", "floors.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwritten: {os.path.join(ROOT, 'reports', 'floors.json')}")


if __name__ == "__main__":
    main()
