//! The two processes that make the sandbox: the helper (a fresh exec of our
//! binary that unshares the namespaces) and its child, PID 1 of the new PID
//! namespace, which reaps everything, runs the churn and the trials, and
//! reports to the host. When PID 1 ends, the kernel kills every process in
//! the namespace: nothing the run started can outlive it.

use super::inside::Inside;
use super::namespace;
use super::table::Shared;
use super::trials::TrialRunner;
use super::wire::{emit, Message, RunPlan, SandboxFacts, SandboxMode};
use crate::churn::generator;
use crate::strategy;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn fail(reason: impl std::fmt::Display) -> i32 {
    emit(&Message::Failed {
        reason: reason.to_string(),
    });
    1
}

/// Entry point of the helper process (role `sandbox`). Returns the exit code.
pub fn helper_main() -> i32 {
    // Whatever started stopbench may have left stop signals ignored (a
    // shell's background job ignores SIGINT and SIGQUIT, `nohup` SIGHUP),
    // and ignored dispositions survive fork and exec. Init, the agent and
    // every clone of them (light churners) start from the defaults, so a
    // signal that hits one of them is seen.
    for sig in crate::sys::child::STOP_SIGNALS {
        crate::sys::default_signal(sig);
    }
    let mut text = String::new();
    if let Err(err) = std::io::stdin().read_to_string(&mut text) {
        return fail(format!("cannot read the run plan: {err}"));
    }
    let plan: RunPlan = match serde_json::from_str(&text) {
        Ok(plan) => plan,
        Err(err) => return fail(format!("bad run plan: {err}")),
    };
    if plan.mode == SandboxMode::SystemdMachine {
        return agent_main(plan);
    }
    if let Err(reason) = namespace::enter(plan.mode) {
        return fail(reason);
    }
    watch_for_the_host();
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    // SAFETY: the helper is single-threaded (it started no thread), so the
    // child may run any code.
    match unsafe { fork() } {
        Err(e) => fail(format!("fork after unshare failed: {e}")),
        Ok(ForkResult::Child) => {
            crate::sys::default_signal(libc::SIGTERM);
            std::process::exit(init_main(plan))
        }
        Ok(ForkResult::Parent { child }) => {
            INIT.store(child.as_raw(), Ordering::SeqCst);
            if HOST_GONE.load(Ordering::SeqCst) {
                let _ = crate::sys::kill(child.as_raw(), libc::SIGKILL);
            }
            let code = loop {
                match waitpid(child, None) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    _ => break 1,
                }
            };
            // The namespace is gone with init. The victims' cgroups go too,
            // even when the host was killed and cannot remove them.
            if let Some(base) = plan.cgroup {
                super::cgroup::CgroupTree { base }.remove();
            }
            code
        }
    }
}

/// The sandbox's init, once forked (0 before).
static INIT: AtomicI32 = AtomicI32::new(0);
/// Set when the host process (the CLI) has died.
static HOST_GONE: AtomicBool = AtomicBool::new(false);

/// When the host dies (even of SIGKILL), the kernel sends the helper SIGTERM;
/// the helper then kills init, which takes the namespace with it, and
/// removes the victims' cgroups, which the dead host no longer can.
fn watch_for_the_host() {
    extern "C" fn host_gone(_: libc::c_int) {
        HOST_GONE.store(true, Ordering::SeqCst);
        let init = INIT.load(Ordering::SeqCst);
        if init > 0 {
            // Init is our unreaped child: the number is still its own.
            let _ = crate::sys::kill(init, libc::SIGKILL);
        }
    }
    // SAFETY: the handler makes only async-signal-safe calls (atomics, kill).
    unsafe { crate::sys::on_signal(libc::SIGTERM, host_gone) };
    // Until now the death signal was SIGKILL (set before our exec), so a
    // host that died earlier took the helper with it: no death goes unseen.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
}

/// Checks that clone3 can ask for a chosen PID here (Linux 5.5+, and
/// CAP_SYS_ADMIN over the namespace), before any other process exists, by
/// asking for PID 2, which a new namespace has not used yet.
fn probe_set_tid(devnull: std::os::fd::RawFd) -> Result<(), String> {
    use super::spawn::{spawn, ChildAction};
    let child = spawn(
        &ChildAction::Sleep(std::time::Duration::ZERO),
        devnull,
        Some(2),
        false,
    )
    .map_err(|e| format!("clone3 with set_tid failed: {e} (needs Linux 5.5+)"))?;
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
    if child.pid != 2 {
        return Err(format!("clone3 with set_tid=2 gave PID {}", child.pid));
    }
    Ok(())
}

/// Inside a sandboxed systemd: not PID 1 (systemd is), but a subreaper, so
/// the oracle still sees every death among the processes it starts. The
/// units it stops are written into the container's /run/systemd/system.
fn agent_main(plan: RunPlan) -> i32 {
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::prctl::set_child_subreaper(true);
    // nsenter's child: not a group leader, so a session of its own is ours
    // to take, and nothing we start shares a group with nsenter.
    if let Err(e) = nix::unistd::setsid() {
        return fail(format!(
            "cannot start a session in the systemd machine: {e}"
        ));
    }
    // Unlike the sandbox's init, the agent is not its namespace's PID 1, so
    // a victim's `kill -1` reaches it. Every signal that can be blocked stays
    // blocked (pending, harmless) in the agent and the threads it starts; the
    // processes it spawns reset their mask. Only a broadcast SIGKILL ends it.
    block_broadcast_signals();
    if let Err(reason) = super::trials::install_units(&plan.scenario, &plan.exe) {
        return fail(reason);
    }
    // nspawn mounts /proc/sys read-only; a private mount namespace with a
    // fresh /proc (still the container's PID namespace) lets us set its
    // pid_max without touching what the container sees.
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS) {
        return fail(format!(
            "cannot make a private mount namespace in the systemd machine: {e}"
        ));
    }
    if let Err(reason) = namespace::mount_private_proc() {
        return fail(reason);
    }
    run_trials(plan)
}

/// Blocks every signal but those the kernel raises for faults (which
/// blocking would turn into a hang) in the calling thread; threads started
/// afterwards inherit the mask.
fn block_broadcast_signals() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    let mut set = SigSet::all();
    for fault in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGTRAP,
        Signal::SIGSYS,
    ] {
        set.remove(fault);
    }
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}

/// PID 1 of the sandbox.
fn init_main(plan: RunPlan) -> i32 {
    // If the helper (and so the host) dies, so do we, and with us the namespace.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    // The helper leads its own session; init leads another, inside the
    // namespace, so init's group (init and its churners) holds nothing
    // outside it and a `kill 0` from a churner-group member cannot reach the helper.
    if let Err(e) = nix::unistd::setsid() {
        return fail(format!("cannot start the sandbox's session: {e}"));
    }
    if let Err(reason) = namespace::mount_private_proc() {
        return fail(reason);
    }
    run_trials(plan)
}

/// The run itself, as PID 1 of the sandbox or as the agent in a systemd machine.
fn run_trials(plan: RunPlan) -> i32 {
    let mut scenario = plan.scenario;
    let pidfile_dir = scenario.victim.pidfile.as_ref().and_then(|p| p.0.parent());
    // Inside a sandboxed systemd the container's /run is already its own,
    // and a tmpfs over it would hide systemd's sockets from systemctl.
    let own_tmpfs = plan.mode != SandboxMode::SystemdMachine;
    if let Some(Err(reason)) = pidfile_dir
        .filter(|_| own_tmpfs)
        .map(namespace::mount_pidfile_dir)
    {
        return fail(reason);
    }
    // Another user runs our binary: it must not depend on their reaching
    // the build tree (see shared_exe.rs). After the pidfile's tmpfs, which
    // may cover the mount point's parent.
    let mut exe = plan.exe;
    let other_user = scenario.victim.user.is_some() || scenario.churn.newcomer_user.is_some();
    if plan.mode == SandboxMode::Root && other_user {
        match super::shared_exe::publish(&exe) {
            Ok(shared) => exe = shared,
            Err(reason) => return fail(reason),
        }
    }
    if scenario
        .strategies
        .iter()
        .any(|s| s.kind == crate::scenario::StrategyKind::Openrc)
    {
        let root = crate::systemd::root_dir(crate::scenario::SystemdRoot::Trixie);
        if let Err(reason) = namespace::bind_into_root(&root, pidfile_dir) {
            return fail(reason);
        }
    }
    let requested = scenario.sandbox.pid_max.as_ref().map(|p| p.one().0);
    let (pid_max, pid_max_note) = match requested.map(namespace::set_pid_max) {
        Some(Ok(v)) => (Some(v), None),
        Some(Err(note)) => (None, Some(note.to_string())),
        None => (crate::model::host::pid_max().ok(), None),
    };
    let systemd_version = (plan.mode == SandboxMode::SystemdMachine)
        .then(systemd_version)
        .flatten();
    let facts = SandboxFacts {
        mode: plan.mode,
        pid_max_requested: requested,
        pid_max,
        pid_max_note,
        systemd_version,
    };
    if !emit(&Message::Started { facts }) {
        return 1;
    }
    let inside = match start_inside(&mut scenario, exe) {
        Ok(inside) => inside,
        Err(code) => return code,
    };
    {
        let shared = inside.shared.clone();
        let devnull = std::os::fd::AsRawFd::as_raw_fd(&inside.devnull);
        std::thread::spawn(move || super::reaper::run(shared, devnull));
    }
    let deadline = Instant::now() + scenario.limits.max_duration.0;
    let stop_churn = Arc::new(AtomicBool::new(false));
    let churn = {
        let (inside, config, stop) = (inside.clone(), scenario.churn.clone(), stop_churn.clone());
        let seed = scenario.seed;
        std::thread::spawn(move || generator::run(inside, config, seed, stop, deadline))
    };
    let cgroups = plan
        .cgroup
        .clone()
        .map(|base| super::cgroup::CgroupTree { base });
    let mut runner = match TrialRunner::new(&inside, &scenario, cgroups.as_ref()) {
        Ok(r) => r,
        Err(err) => return fail(format!("cannot set up the oracle pipe: {err}")),
    };
    let stopped_early = match run_rounds(&mut runner, &scenario, deadline) {
        Ok(stopped_early) => stopped_early,
        Err(HostGone) => return 1,
    };
    runner.finish();
    stop_churn.store(true, Ordering::Relaxed);
    let mut churn = churn.join().unwrap_or_default();
    add_table_figures(&inside, &mut churn);
    if let Some((time, processes)) = runner.scan_floor() {
        churn.proc_scan_us = Some(time.as_secs_f64() * 1e6);
        churn.processes = Some(processes as u64);
    }
    emit(&Message::Finished {
        churn,
        stopped_early,
    });
    // Returning ends PID 1; the kernel then kills whatever is left in here.
    0
}

/// The host stopped reading: the run is over.
struct HostGone;

/// What init needs to run trials: /dev/null for children's stdio, the
/// process table, the helpers' trace. Forced reuse is turned off, with a
/// warning, where this kernel cannot give a chosen number. `Err` is the
/// exit code when that failed or the host is gone.
fn start_inside(scenario: &mut crate::scenario::Scenario, exe: String) -> Result<Arc<Inside>, i32> {
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(std::os::fd::OwnedFd::from)
        .map_err(|err| fail(format!("cannot open /dev/null: {err}")))?;
    if scenario.churn.forced_reuse {
        if let Err(why) = probe_set_tid(std::os::fd::AsRawFd::as_raw_fd(&devnull)) {
            let text = format!("forced PID reuse is unavailable, running without it: {why}");
            if !emit(&Message::Warning { text }) {
                return Err(1);
            }
            scenario.churn.forced_reuse = false;
        }
    }
    let trace = super::trace::HelperTrace::new();
    if trace.is_none() {
        let text = "race windows of helper-run strategies (execstoppost-check, pkill-f) are \
                    not measured, and their signals to the sandbox's init or to their own \
                    shells' children are not seen: the trace shim was not built (no C \
                    compiler at build time) or no memfd"
            .to_string();
        if !emit(&Message::Warning { text }) {
            return Err(1);
        }
    }
    Ok(Arc::new(Inside {
        shared: Shared::new(scenario.churn.bystanders.len()),
        devnull,
        exe,
        trace,
        acts: Default::default(),
    }))
}

/// Every round of the scenario, each strategy once per round in a seeded
/// order, until done or the deadline. Returns why it stopped early, if it did.
fn run_rounds(
    runner: &mut TrialRunner<'_>,
    scenario: &crate::scenario::Scenario,
    deadline: Instant,
) -> Result<Option<String>, HostGone> {
    let strategies: Vec<_> = scenario
        .strategies
        .iter()
        .map(|c| (c.label(), strategy::build(c)))
        .collect();
    let mut order: Vec<usize> = (0..strategies.len()).collect();
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let mut trial = 0;
    let rounds = scenario.warmup.0 + scenario.trials.0;
    for round in 0..rounds {
        if round > scenario.warmup.0 && precise_enough(runner, scenario) {
            return Ok(None);
        }
        // A seeded order per round, so no strategy always follows the same one.
        order.shuffle(&mut rng);
        for &i in &order {
            if Instant::now() >= deadline {
                return Ok(Some(format!(
                    "limits.max_duration ({}) reached after {trial} trials",
                    scenario.limits.max_duration
                )));
            }
            let (label, strategy) = &strategies[i];
            let alive = if strategy.kind() == crate::scenario::StrategyKind::Systemd {
                runner.run_unit(trial, round, &scenario.strategies[i], label)
            } else {
                runner.run(trial, round, strategy.as_ref(), label)
            };
            if !alive {
                return Err(HostGone);
            }
            trial += 1;
        }
    }
    Ok(None)
}

/// Whether every strategy's misfire rate is known to `until_precision`:
/// its 95% Wilson interval is at most that wide. Judged on the records
/// emitted so far (each trial's is emitted when the next starts), so the run
/// may go one round past the point; the host reports where it was reached.
fn precise_enough(runner: &TrialRunner<'_>, scenario: &crate::scenario::Scenario) -> bool {
    let Some(target) = scenario.until_precision else {
        return false;
    };
    scenario.strategies.iter().all(|s| {
        let (n, k) = runner.tallies.get(&s.label()).copied().unwrap_or((0, 0));
        crate::measure::stats::wilson_width(k, n) <= target.0
    })
}

/// The churn report's figures that the process table collected: PIDs held
/// in the sandbox, and forced reuse's timing.
fn add_table_figures(inside: &Inside, churn: &mut crate::churn::ChurnReport) {
    let held = inside.shared.table.lock().take_held_samples();
    if !held.is_empty() {
        let sum: u64 = held.iter().map(|&h| u64::from(h)).sum();
        churn.held_pids = Some(sum as f64 / held.len() as f64);
    }
    let mut reuse = inside.shared.table.lock().take_reuse_us();
    churn.forced_reuses = reuse.len() as u64;
    if !reuse.is_empty() {
        reuse.sort_unstable();
        churn.forced_reuse_p50_us = Some(f64::from(reuse[reuse.len() / 2]));
    }
}

/// The container's systemd, as `systemctl --version` names it.
fn systemd_version() -> Option<String> {
    let out = std::process::Command::new("systemctl")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}
