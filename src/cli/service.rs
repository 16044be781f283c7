//! `stopbench service UNIT_FILE`: the unit read by systemd, turned into a
//! scenario, run like any other, then the corrected unit.

use super::args::{RunArgs, ServiceArgs};
use super::exit::{ExitCode, Failure};
use anyhow::Context;
use stopbench::service::{self, advice, scenario, ServiceError};

pub fn service(args: ServiceArgs) -> anyhow::Result<ExitCode> {
    let usage = |message: String| anyhow::Error::from(Failure(ExitCode::Usage, message));
    if !nix::unistd::geteuid().is_root() {
        return Err(usage(
            "stopbench service needs root: it boots a sandboxed systemd (scripts/setup-systemd) \
             to read the unit and to run it as written. As an ordinary user `stopbench run` \
             still measures the daemon itself: an `exec` victim with the unit's ExecStart= \
             argv and its PIDFile= as `pidfile` (the README's \"Your own service\")."
                .into(),
        ));
    }
    let unit = service::read_unit(&args.unit).map_err(|e| usage(e.to_string()))?;
    let what_if = args
        .what_if
        .as_deref()
        .map(scenario::WhatIf::parse_list)
        .transpose()
        .map_err(|e| usage(e.to_string()))?;
    let root = stopbench::scenario::SystemdRoot::Host;
    if let Some(reason) = stopbench::systemd::unavailable_reason(root) {
        return Err(Failure(ExitCode::Failure, reason).into());
    }
    let exe = std::env::current_exe().context("cannot find stopbench's own binary")?;
    let exe = exe.display().to_string();
    if !args.quiet {
        eprintln!("stopbench: systemd reads `{}`", args.unit.display());
    }
    let props = service::parse_with_systemd(&exe, root, &unit)
        .map_err(|e| Failure(ExitCode::Failure, e.to_string()))?;
    let options = scenario::Options {
        trials: args.trials,
        seed: args.seed,
        churn_rate: args.churn_rate,
        binds: args.binds.clone(),
        what_if: what_if.unwrap_or_else(|| scenario::WhatIf::defaults(&props)),
        container_root: stopbench::systemd::root_dir(root),
    };
    let text = scenario::text(&unit, &props, &options).map_err(|e| match e {
        ServiceError::MissingProgram { .. } | ServiceError::MissingBind(_) => usage(e.to_string()),
        e => Failure(ExitCode::Failure, e.to_string()).into(),
    })?;
    let stem = unit.name.trim_end_matches(".service");
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| stopbench::run::default_out_dir(stem));
    // The scenario that runs: where asked, else beside the run.
    let scenario_path = match &args.emit_scenario {
        Some(path) => path.clone(),
        None => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create `{}`", out.display()))?;
            out.join("service-scenario.toml")
        }
    };
    std::fs::write(&scenario_path, &text)
        .with_context(|| format!("cannot write `{}`", scenario_path.display()))?;
    if !args.quiet {
        eprintln!("stopbench: scenario written to {}", scenario_path.display());
    }
    let code = super::run::run(RunArgs {
        scenario: scenario_path.display().to_string(),
        trials: None,
        seed: None,
        strategies: Vec::new(),
        out: Some(out.clone()),
        quiet: args.quiet,
        user_namespace: false,
        churn_from: None,
        sets: Vec::new(),
        warmup: None,
        until_precision: None,
        save_baseline: None,
        bundle: None,
        host: None,
    })?;
    let rows = read_summary(&out.join("summary.csv"))?;
    let mut section = advice::section(&unit.name, &unit.text, &rows);
    section.push_str(&advice::journals(&read_notes(&out.join("trials.csv"))));
    std::fs::write(out.join("service.md"), &section)
        .with_context(|| format!("cannot write `{}`", out.join("service.md").display()))?;
    let report = out.join("report.md");
    if let Ok(mut md) = std::fs::read_to_string(&report) {
        md.push('\n');
        md.push_str(&section);
        std::fs::write(&report, md)
            .with_context(|| format!("cannot write `{}`", report.display()))?;
    }
    if !args.quiet {
        println!("\n{section}");
    }
    Ok(code)
}

/// `(strategy, note)` of every trial that has a note.
fn read_notes(path: &std::path::Path) -> Vec<(String, String)> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    let Ok(headers) = reader.headers().cloned() else {
        return Vec::new();
    };
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(s), Some(n)) = (column("strategy"), column("note")) else {
        return Vec::new();
    };
    reader
        .records()
        .flatten()
        .filter_map(|r| Some((r.get(s)?.to_string(), r.get(n)?.to_string())))
        .filter(|(_, note)| !note.is_empty())
        .collect()
}

fn read_summary(
    path: &std::path::Path,
) -> anyhow::Result<Vec<stopbench::report::summary::SummaryRow>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read `{}`", path.display()))
}
