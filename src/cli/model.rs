//! `stopbench model` and `stopbench observe`.

use super::args::{ModelArgs, ObserveArgs};
use super::exit::{ExitCode, Failure};
use anyhow::Context;
use std::time::Duration;
use stopbench::figures::duration;
use stopbench::measure::{Outcome, Recorder, StrategyStats, TrialTally};
use stopbench::model::host::ChurnScope;
use stopbench::model::{assess, estimate_words, Assessment, Fleet, HostChurn, PidSpace, Survival};
use stopbench::results::RunResults;
use stopbench::run::{self, RunOptions};
use stopbench::scenario::{self, HumanDuration, StrategyKind, Trials};
use stopbench::strategy::WindowKind;

fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure(ExitCode::Usage, message.into()).into()
}

fn parse_duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    HumanDuration::parse(text)
        .map(|d| d.0)
        .map_err(|e| usage(format!("{flag} `{text}`: {e}")))
}

/// Strategies with their window kind and measured windows.
type Modelled = Vec<(String, WindowKind, Option<StrategyStats>)>;

pub fn model(args: ModelArgs) -> anyhow::Result<ExitCode> {
    let survival = match &args.lifetime {
        Some(text) => {
            let l = parse_duration("--lifetime", text)?.as_secs_f64();
            Survival::Uniform { min: l, max: l }
        }
        None => Survival::LongLived,
    };
    if args.hosts == 0 || args.stops_per_day.is_nan() || args.stops_per_day < 0.0 {
        return Err(usage(
            "--hosts must be at least 1 and --stops-per-day not negative",
        ));
    }
    if let Some(rate) = args.fork_rate {
        if rate.is_nan() || rate < 0.0 {
            return Err(usage(format!("--fork-rate {rate}: must be 0 or more")));
        }
    }
    let host = match (&args.churn_from, args.fork_rate) {
        (_, Some(rate)) => {
            HostChurn::given(rate).context("cannot read this host's PID counters")?
        }
        (Some(path), None) => HostChurn::load(path).map_err(|e| usage(e.to_string()))?,
        (None, None) => {
            eprintln!(
                "stopbench: observing this PID namespace's allocations for 2s (give --churn-from or --fork-rate to skip)"
            );
            HostChurn::brief(Duration::from_secs(2))
                .context("cannot read this host's PID counters")?
        }
    };
    if host.scope == ChurnScope::Host && stopbench::model::host::in_nested_pid_namespace() {
        eprintln!(
            "warning: {}: its rate is the whole machine's fork counter, but pid_max and the live PIDs are this PID namespace's (a container): the wrap time mixes scopes; observe again with this version (it reads this namespace's own allocator)",
            args.churn_from.as_ref().map_or("the observation".into(), |p| p.display().to_string())
        );
    }
    let space = PidSpace {
        pid_max: args.pid_max.unwrap_or(host.pid_max),
        live: args.live.unwrap_or(host.live_pids),
    };
    let strategies = if !args.windows.is_empty() {
        given_windows(&args.windows)?
    } else if let Some(dir) = &args.from_run {
        let results = RunResults::load(dir).map_err(|e| usage(e.to_string()))?;
        eprintln!("stopbench: windows from {}", dir.display());
        from_results(results)
    } else {
        measured_windows(&args)?
    };
    print_model(&strategies, space, &host, survival, &args);
    Ok(ExitCode::Success)
}

fn given_windows(specs: &[String]) -> anyhow::Result<Modelled> {
    let mut out = Vec::new();
    for spec in specs {
        let (name, text) = spec
            .split_once('=')
            .ok_or_else(|| usage(format!("--window `{spec}`: expected NAME=DURATION")))?;
        let window = parse_duration("--window", text)?;
        let kind = serde_json::from_value::<StrategyKind>(serde_json::Value::String(name.into()))
            .map_or(WindowKind::Number, |k| k.window_kind());
        let mut recorder = Recorder::new(&[name.to_string()]);
        recorder.record(&TrialTally {
            strategy: name,
            outcome: Outcome::Exited,
            latency_us: Some(1),
            completion_us: 1,
            misfires: 0,
            victim_signals: 0,
            leaks: 0,
            pid_reused: false,
            race_window_us: Some(window.as_micros() as u64),
            exposure_us: None,
            follow_us: None,
            cpu: None,
        });
        out.push((name.to_string(), kind, recorder.strategies.pop()));
    }
    Ok(out)
}

fn from_results(results: RunResults) -> Modelled {
    let kinds: Vec<WindowKind> = results
        .stats
        .iter()
        .map(|s| results.window_kind(&s.strategy))
        .collect();
    let unavailable: Vec<(String, WindowKind, Option<StrategyStats>)> = results
        .meta
        .unavailable
        .iter()
        .map(|u| (u.strategy.clone(), results.window_kind(&u.strategy), None))
        .collect();
    let mut out: Modelled = results
        .stats
        .into_iter()
        .zip(kinds)
        .map(|(s, kind)| (s.strategy.clone(), kind, Some(s)))
        .collect();
    out.extend(unavailable);
    out
}

/// Runs the scenario briefly in the sandbox, forced reuse off: a strategy
/// fooled by a recycled number (its `kill -0` poll sees the newcomer alive)
/// would otherwise wait out its whole timeout and report that as its window.
fn measured_windows(args: &ModelArgs) -> anyhow::Result<Modelled> {
    let mut scenario = scenario::load(&args.scenario).map_err(|e| usage(e.to_string()))?;
    scenario.trials = Trials(args.trials);
    scenario.churn.forced_reuse = false;
    if let Some((_, mut points)) = scenario.sweep() {
        scenario = points.remove(0).scenario;
    }
    let out_dir = run::default_out_dir(&format!("{}-model", scenario.name));
    eprintln!(
        "stopbench: measuring exposures and race windows: scenario `{}`, {} trials x {} strategies, forced reuse off -> {}",
        scenario.name,
        args.trials,
        scenario.strategies.len(),
        out_dir.display()
    );
    super::run::catch_interrupts();
    let exe = std::env::current_exe().context("cannot find stopbench's own binary")?;
    let results = run::execute(RunOptions {
        scenario,
        out_dir,
        quiet: false,
        exe: exe.display().to_string(),
        mode: super::run::sandbox_mode(args.user_namespace),
    })
    .map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
    if let Some(why) = &results.meta.incomplete {
        return Err(Failure(
            ExitCode::Failure,
            format!("the window run did not finish: {why}"),
        )
        .into());
    }
    Ok(from_results(results))
}

fn print_model(
    strategies: &Modelled,
    space: PidSpace,
    host: &HostChurn,
    survival: Survival,
    args: &ModelArgs,
) {
    let rate = host.fork_rate();
    let wrap = space
        .wrap_time(rate)
        .map_or("never (no forks)".into(), |t| {
            duration(Duration::from_secs_f64(t))
        });
    println!(
        "PID space: pid_max {}, {} PIDs held, {:.0} forks/s ({}; {}): a freed number comes back after {wrap}",
        space.pid_max,
        space.live,
        rate,
        host.source,
        host.scope.describe()
    );
    let fleet = Fleet {
        hosts: args.hosts,
        stops_per_day: args.stops_per_day,
    };
    println!(
        "Fleet: {} hosts x {} stops/day = {:.0} stops/year; {}",
        args.hosts,
        args.stops_per_day,
        fleet.stops_per_year(),
        survival.describe()
    );
    println!();
    println!(
        "{:<20} {:>11} {:>11}  {:<62} misfires per year: expected (a year's count, >=95%)",
        "strategy", "window p50", "window p99", "misfire risk per stop (95%)"
    );
    for (name, kind, stats) in strategies {
        let a = assess(*kind, stats.as_ref(), space, &host.rates, survival);
        let [p50, p99, per_stop, per_year] = model_cells(a, stats.is_some(), &fleet);
        println!("{name:<20} {p50:>11} {p99:>11}  {per_stop:<62} {per_year}");
    }
    println!();
    println!(
        "window: per stop, the longer of its exposure (the daemon's number free before the strategy's last act on it: a signal, or a kill -0 / ps -p probe) and its race window (check to kill)."
    );
    if strategies.iter().any(|(_, k, _)| *k == WindowKind::Name) {
        println!(
            "pkill-f: the model covers only its scan-to-kill window; what its pattern matches by name is measured by `stopbench run`, not modelled."
        );
    }
}

/// One strategy's window p50 and p99, risk per stop and misfires per year.
fn model_cells(a: Assessment, measured: bool, fleet: &Fleet) -> [String; 4] {
    match a {
        Assessment::ByConstruction => [
            "none".into(),
            "none".into(),
            "0 by construction (holds the process, not a number)".into(),
            "0 by construction".into(),
        ],
        Assessment::NotMeasured => [
            "-".into(),
            "-".into(),
            "not measured (helpers inside systemd are not traced)".into(),
            "-".into(),
        ],
        Assessment::NoWindows => [
            "-".into(),
            "-".into(),
            if measured {
                "no window recorded".into()
            } else {
                "not measured (strategy unavailable here)".into()
            },
            "-".into(),
        ],
        Assessment::Risk {
            kind,
            p50,
            p99,
            per_stop,
        } => {
            let y = fleet.project(per_stop);
            let mut words = estimate_words(&per_stop);
            if kind == WindowKind::Name {
                words.push_str(" + name matches");
            }
            [
                duration(p50),
                duration(p99),
                words,
                format!("{:.1} ({} to {})", y.expected, y.lo, y.hi),
            ]
        }
    }
}

pub fn observe(args: ObserveArgs) -> anyhow::Result<ExitCode> {
    let period = parse_duration("--for", &args.period)?;
    let interval = parse_duration("--interval", &args.interval)?;
    if interval.is_zero() || interval > period {
        return Err(usage("--interval must be above 0 and at most --for"));
    }
    let bar = (!args.quiet).then(|| {
        let bar = indicatif::ProgressBar::new(period.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "observing {bar:40} {elapsed}/{msg} (reading /proc only: this PID namespace's allocator)",
            )
            .expect("valid template"),
        );
        bar.set_message(HumanDuration(period).to_string());
        bar
    });
    let obs = HostChurn::observe(period, interval, |elapsed| {
        if let Some(bar) = &bar {
            bar.set_position(elapsed.as_millis() as u64);
        }
    })
    .context("cannot read this host's PID counters")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let out = args.out.unwrap_or_else(|| {
        let dir = run::default_out_dir("host-churn");
        dir.with_extension("json")
    });
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    obs.save(&out)
        .with_context(|| format!("cannot write `{}`", out.display()))?;
    let (lo, hi) = obs
        .rates
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let space = PidSpace {
        pid_max: obs.pid_max,
        live: obs.live_pids,
    };
    println!("pid_max: {}", obs.pid_max);
    println!(
        "live PIDs: {} in the allocator's cycle (numbers from 300 up, threads included)",
        obs.live_pids
    );
    println!(
        "fork rate: {:.1}/s mean over {} ({} samples of {}; min {lo:.0}/s, max {hi:.0}/s)",
        obs.fork_rate(),
        HumanDuration(period),
        obs.rates.len(),
        HumanDuration(interval)
    );
    if let Some(t) = space.wrap_time(obs.fork_rate()) {
        println!(
            "a freed PID comes back after about {}",
            duration(Duration::from_secs_f64(t))
        );
    }
    println!("written: {}", out.display());
    Ok(ExitCode::Success)
}
