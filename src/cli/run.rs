//! `stopbench run`.

use super::args::RunArgs;
use super::exit::{ExitCode, Failure};
use anyhow::Context;
use std::sync::atomic::Ordering;
use stopbench::model::HostChurn;
use stopbench::report::terminal;
use stopbench::results::sweep::agreement;
use stopbench::run::{self, RunOptions, ACTIVE_SANDBOX, INTERRUPTED};
use stopbench::sandbox::SandboxMode;
use stopbench::scenario::{self, Trials};

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let helper = ACTIVE_SANDBOX.load(Ordering::SeqCst);
    if helper > 0 {
        // Our own child, not yet reaped: the number is still its own. Killing
        // it ends the sandbox; the host then writes what was measured.
        let _ = stopbench::sys::kill(helper, libc::SIGKILL);
    }
}

/// An interrupt ends the sandbox; what was measured is written.
pub(super) fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler stores to atomics and calls kill(2), all
        // async-signal-safe.
        unsafe { stopbench::sys::on_signal(sig, on_interrupt) };
    }
}

/// Root builds the namespaces directly; anyone else through a user namespace.
pub(super) fn sandbox_mode(user_namespace: bool) -> SandboxMode {
    if nix::unistd::geteuid().is_root() && !user_namespace {
        SandboxMode::Root
    } else {
        SandboxMode::UserNamespace
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(host) = &args.host {
        set_host(host)?;
    }
    let scenario = scenario_as_asked(&args)?;
    let mode = sandbox_mode(args.user_namespace);
    check_asked(&args, &scenario, mode)?;
    let exe = std::env::current_exe().context("cannot find stopbench's own binary")?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| run::default_out_dir(&scenario.name.0));
    catch_interrupts();
    let quiet = args.quiet;
    if !quiet {
        eprintln!(
            "stopbench: scenario `{}`: {} trials x {} strategies -> {}",
            scenario.name,
            scenario.trials.0,
            scenario.strategies.len(),
            out_dir.display()
        );
    }
    let options = RunOptions {
        scenario,
        out_dir,
        quiet,
        exe: exe.display().to_string(),
        mode,
    };
    if let Some((parameter, points)) = options.scenario.sweep() {
        let sweep = run::execute_sweep(options, parameter, points)
            .map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
        if !quiet {
            print_sweep(&sweep);
        }
        bundle_sweep(&args, &sweep)?;
        let ran = sweep.points.len();
        if ran < sweep.index.points.len() {
            eprintln!(
                "warning: incomplete sweep: {ran} of {} points ran",
                sweep.index.points.len()
            );
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Ok(ExitCode::Interrupted);
            }
        }
        return Ok(ExitCode::Success);
    }
    let outcome = run::execute(options).map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
    if !quiet {
        print_run(&outcome);
    }
    keep(&args, &outcome)?;
    if let Some(why) = &outcome.meta.incomplete {
        eprintln!("warning: incomplete run: {why}");
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(ExitCode::Interrupted);
        }
    }
    Ok(ExitCode::Success)
}

/// What the run cannot do as asked, refused before it starts: a baseline
/// of a sweep or by a bad name; another user without root.
fn check_asked(
    args: &RunArgs,
    scenario: &scenario::Scenario,
    mode: SandboxMode,
) -> anyhow::Result<()> {
    if let Some(name) = &args.save_baseline {
        if scenario.sweep().is_some() {
            return Err(Failure(
                ExitCode::Usage,
                "--save-baseline keeps one run, and this scenario is a sweep; save a \
                 baseline of each point with --set, e.g. --set churn.rate=1000"
                    .into(),
            )
            .into());
        }
        // A bad name is refused before the run, not after it.
        stopbench::results::baseline::dir(name, &scenario.name.0)
            .map_err(|e| Failure(ExitCode::Usage, e.to_string()))?;
    }
    let users = [
        ("victim.user", scenario.victim.user.is_some()),
        (
            "churn.newcomer_user",
            scenario.churn.newcomer_user.is_some(),
        ),
    ];
    if let Some((key, _)) = users
        .iter()
        .find(|(_, set)| *set && mode != SandboxMode::Root)
    {
        anyhow::bail!(
            "`{key}` runs a process as another user, which only root can do: the user namespace \
             of an ordinary user maps only its own uid. Run as root, or leave `{key}` out."
        );
    }
    if let Some(why) = stopbench::sandbox::shared_exe::refusal(scenario) {
        return Err(Failure(ExitCode::Usage, why).into());
    }
    Ok(())
}

/// The name run.json records for this host, checked (it tags HdrHistogram
/// intervals in a merged run, which take no spaces or commas).
fn set_host(host: &str) -> anyhow::Result<()> {
    if !stopbench::results::plain_name(host) {
        return Err(Failure(
            ExitCode::Usage,
            format!("--host `{host}`: use letters, digits, `-`, `_` or `.` (not first)"),
        )
        .into());
    }
    // Read where run.json records the machine; no thread runs yet.
    std::env::set_var("STOPBENCH_HOST", host);
    Ok(())
}

/// A sweep's whole directory as one bundle, when asked.
fn bundle_sweep(
    args: &RunArgs,
    sweep: &stopbench::results::sweep::SweepResults,
) -> anyhow::Result<()> {
    if let (Some(file), Some((_, first))) = (&args.bundle, sweep.points.first()) {
        let top = first.dir.parent().unwrap_or(&first.dir);
        stopbench::results::bundle::pack(top, file)?;
        if !args.quiet {
            println!("bundle: {}", file.display());
        }
    }
    Ok(())
}

/// The run kept as a baseline and written as a bundle, when asked.
fn keep(args: &RunArgs, outcome: &stopbench::results::RunResults) -> anyhow::Result<()> {
    if let Some(name) = &args.save_baseline {
        let at = stopbench::results::baseline::save(name, outcome.name(), &outcome.dir)?;
        if !args.quiet {
            println!("baseline `{name}`: {}", at.display());
        }
    }
    if let Some(file) = &args.bundle {
        stopbench::results::bundle::pack(&outcome.dir, file)?;
        if !args.quiet {
            println!("bundle: {}", file.display());
        }
    }
    Ok(())
}

/// The scenario with the command line's overrides: trials, a subset of
/// strategies, the seed, a recorded host churn.
fn scenario_as_asked(args: &RunArgs) -> anyhow::Result<scenario::Scenario> {
    let usage = |message: String| anyhow::Error::from(Failure(ExitCode::Usage, message));
    let mut scenario =
        scenario::load_with(&args.scenario, &args.sets).map_err(|e| usage(e.to_string()))?;
    if let Some(trials) = args.trials {
        scenario.trials = Trials(trials);
    }
    if let Some(warmup) = args.warmup {
        scenario.warmup = scenario::Warmup(warmup);
    }
    if let Some(width) = &args.until_precision {
        scenario.until_precision = Some(
            scenario::Precision::parse(width)
                .map_err(|why| usage(format!("--until-precision `{width}`: {why}")))?,
        );
    }
    if !args.strategies.is_empty() {
        let known: Vec<String> = scenario.strategies.iter().map(|s| s.label()).collect();
        if let Some(unknown) = args.strategies.iter().find(|name| !known.contains(name)) {
            return Err(usage(format!(
                "--strategy `{unknown}` is not in scenario `{}`; it has: {}",
                scenario.name,
                known.join(", ")
            )));
        }
        scenario
            .strategies
            .retain(|s| args.strategies.contains(&s.label()));
    }
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(path) = &args.churn_from {
        let host = HostChurn::load(path).map_err(|e| usage(e.to_string()))?;
        if scenario.churn.rate.is_sweep() {
            return Err(usage(format!(
                "--churn-from replaces churn.rate, which scenario `{}` sweeps",
                scenario.name
            )));
        }
        scenario.churn.replay = Some(host);
    }
    Ok(scenario)
}

/// Each point's table, the model check and where the report is.
fn print_sweep(sweep: &stopbench::results::sweep::SweepResults) {
    let parameter = sweep.index.parameter;
    for (i, (_, results)) in sweep.points.iter().enumerate() {
        println!("{} = {}", parameter.key(), sweep.axis_label(i));
        print!("{}", terminal::table(&results.stats));
    }
    let (inside, cells) = agreement(&sweep.model_checks());
    if cells > 0 {
        println!(
            "model check: the prediction is inside the measured 95% interval in {inside} of {cells} cells"
        );
    }
    if let Some((_, first)) = sweep.points.first() {
        println!(
            "report: {}",
            first
                .dir
                .parent()
                .unwrap_or(&first.dir)
                .join("index.html")
                .display()
        );
    }
}

/// The run's table, its churn and sandbox, and where the results are.
fn print_run(outcome: &stopbench::results::RunResults) {
    print!("{}", terminal::table(&outcome.stats));
    if let Some(churn) = &outcome.meta.churn {
        println!(
            "churn: target {}, achieved {:.0}/s ({} spawned)",
            churn.target, churn.achieved_rate, churn.spawned
        );
        if let Some(asked) = churn.replay_target_rate {
            println!(
                "replay: the recording asked for {asked:.1}/s over this run; achieved {:.1}/s ({:+.1}%)",
                churn.achieved_rate,
                (churn.achieved_rate / asked.max(1e-9) - 1.0) * 100.0
            );
        }
    }
    if let Some(facts) = &outcome.meta.sandbox {
        let pid_max = facts
            .pid_max
            .map_or("unchanged".to_string(), |p| p.to_string());
        println!("sandbox: {:?}, pid_max {pid_max}", facts.mode);
    }
    for p in &outcome.precision {
        match p.needed {
            Some(n) => println!(
                "precision: `{}` needed {n} trials for a misfire interval at most {:.2}% wide \
                 ({} run; {:.2}% wide at the end)",
                p.strategy,
                p.target * 100.0,
                p.trials,
                p.width * 100.0
            ),
            None => println!(
                "precision: `{}` not reached in {} trials (interval {:.2}% wide)",
                p.strategy,
                p.trials,
                p.width * 100.0
            ),
        }
    }
    println!("results: {}", outcome.dir.display());
    println!("report: {}", outcome.dir.join("index.html").display());
}
