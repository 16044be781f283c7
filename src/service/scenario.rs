//! The scenario a unit becomes: what `stopbench service` runs and
//! `--emit-scenario` writes, so the measurement can be rerun and edited
//! with `stopbench run`.

use super::props::UnitProps;
use super::{ServiceError, UnitFiles};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A row besides the unit as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhatIf {
    /// The same unit with `KillMode=mixed`.
    Mixed,
    /// The same unit with `KillMode=control-group`.
    ControlGroup,
    /// The same unit without its `ExecStop=`/`ExecStopPost=` lines.
    NoNumberLines,
    /// stopbench's own cgroup (with the unit's KillMode) and pidfd stops of
    /// the same daemon, in its own sandbox.
    Emulations,
}

impl WhatIf {
    pub const ALL: [WhatIf; 4] = [
        WhatIf::Mixed,
        WhatIf::ControlGroup,
        WhatIf::NoNumberLines,
        WhatIf::Emulations,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WhatIf::Mixed => "mixed",
            WhatIf::ControlGroup => "control-group",
            WhatIf::NoNumberLines => "no-number-lines",
            WhatIf::Emulations => "emulations",
        }
    }

    /// A comma-separated list of names.
    pub fn parse_list(text: &str) -> Result<Vec<WhatIf>, ServiceError> {
        text.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(|w| {
                WhatIf::ALL
                    .into_iter()
                    .find(|k| k.name() == w)
                    .ok_or_else(|| ServiceError::UnknownWhatIf(w.into()))
            })
            .collect()
    }

    /// The rows the unit's own settings make worth measuring: another
    /// KillMode where its own leaves processes (process, none) or signals
    /// only the main process first (mixed); no number lines where it has
    /// them; the emulations always.
    pub fn defaults(props: &UnitProps) -> Vec<WhatIf> {
        let mut rows = Vec::new();
        if props.kill_mode != "mixed" {
            rows.push(WhatIf::Mixed);
        }
        if props.kill_mode != "control-group" {
            rows.push(WhatIf::ControlGroup);
        }
        if !props.number_lines().is_empty() {
            rows.push(WhatIf::NoNumberLines);
        }
        rows.push(WhatIf::Emulations);
        rows
    }

    /// The label of its `systemd` row, and the drop-in that makes it.
    pub fn dropin(self) -> Option<(&'static str, &'static str)> {
        match self {
            WhatIf::Mixed => Some(("killmode-mixed", "[Service]\nKillMode=mixed\n")),
            WhatIf::ControlGroup => Some((
                "killmode-control-group",
                "[Service]\nKillMode=control-group\n",
            )),
            // An empty assignment resets the list, as in any drop-in.
            WhatIf::NoNumberLines => {
                Some(("no-number-lines", "[Service]\nExecStop=\nExecStopPost=\n"))
            }
            WhatIf::Emulations => None,
        }
    }
}

/// The label of the unit-as-written row.
pub const AS_WRITTEN: &str = "as-written";

/// How the run is set up besides the unit.
#[derive(Debug, Clone)]
pub struct Options {
    pub trials: u32,
    pub seed: u64,
    pub churn_rate: u32,
    /// More host paths the daemon needs in the container.
    pub binds: Vec<PathBuf>,
    pub what_if: Vec<WhatIf>,
    /// The root of the sandboxed systemd, to tell which programs and
    /// libraries it lacks.
    pub container_root: PathBuf,
}

/// The shared libraries `program` loads (from `ldd`), absolute paths.
fn libraries(program: &Path) -> Vec<PathBuf> {
    let Ok(out) = std::process::Command::new("ldd").arg(program).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// Host paths the unit's daemon needs inside the container: every
/// program its lines run and every library they load that the container's
/// root lacks, the directories named after the program that exist here
/// (`/etc/NAME`, `/var/lib/NAME`, `/var/log/NAME`, `/var/cache/NAME`,
/// `/usr/share/NAME`, `/usr/lib/NAME`), and `binds`.
pub fn visible_paths(props: &UnitProps, options: &Options) -> Vec<PathBuf> {
    let lacks = |p: &Path| {
        !options
            .container_root
            .join(p.strip_prefix("/").unwrap_or(p))
            .exists()
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let programs = props
        .exec_start
        .iter()
        .chain(&props.exec_stop)
        .chain(&props.exec_stop_post)
        .map(|c| PathBuf::from(&c.path));
    for program in programs {
        if program.exists() && lacks(&program) {
            paths.extend(libraries(&program).into_iter().filter(|l| lacks(l)));
            paths.push(program);
        }
    }
    let main = Path::new(&props.exec_start[0].path);
    if let Some(stem) = main.file_name().and_then(|n| n.to_str()) {
        for base in [
            "/etc",
            "/var/lib",
            "/var/log",
            "/var/cache",
            "/usr/share",
            "/usr/lib",
        ] {
            let dir = Path::new(base).join(stem);
            if dir.is_dir() {
                paths.push(dir);
            }
        }
    }
    paths.extend(options.binds.iter().cloned());
    paths.sort();
    paths.dedup();
    paths
}

fn duration(d: std::time::Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The scenario text for `unit`, parsed by systemd as `props`.
pub fn text(
    unit: &UnitFiles,
    props: &UnitProps,
    options: &Options,
) -> Result<String, ServiceError> {
    let main = &props.exec_start[0];
    let program = Path::new(&main.path);
    if !crate::scenario::program::resolve(&main.path).is_ok_and(|p| p == program) {
        return Err(ServiceError::MissingProgram {
            unit: unit.name.clone(),
            program: main.path.clone(),
        });
    }
    if let Some(missing) = options.binds.iter().find(|b| !b.exists()) {
        return Err(ServiceError::MissingBind(missing.display().to_string()));
    }
    let stem = unit.name.trim_end_matches(".service").to_string();
    let timeout = duration(props.timeout_stop);
    let mut doc = Table::new();
    doc.insert("name".into(), Value::String(scenario_name(&stem)));
    doc.insert(
        "description".into(),
        Value::String(format!(
            "stopbench service {}: the unit as written, its what-ifs and emulations",
            unit.path.display()
        )),
    );
    doc.insert("trials".into(), Value::Integer(options.trials.into()));
    doc.insert("seed".into(), Value::Integer(options.seed as i64));
    let mut sandbox = Table::new();
    let visible = visible_paths(props, options);
    sandbox.insert(
        "visible".into(),
        Value::Array(
            visible
                .iter()
                .map(|p| Value::String(p.display().to_string()))
                .collect(),
        ),
    );
    doc.insert("sandbox".into(), Value::Table(sandbox));
    let mut churn = Table::new();
    churn.insert("rate".into(), Value::Integer(options.churn_rate.into()));
    doc.insert("churn".into(), Value::Table(churn));
    let mut victim = Table::new();
    victim.insert("behaviour".into(), Value::String("exec".into()));
    let mut argv = main.argv.clone();
    // systemd runs `path` under argv; a scenario's argv[0] is what runs.
    argv[0] = main.path.clone();
    victim.insert(
        "command".into(),
        Value::Array(argv.into_iter().map(Value::String).collect()),
    );
    victim.insert("startup".into(), Value::String("200ms".into()));
    if let Some(pidfile) = &props.pid_file {
        victim.insert("pidfile".into(), Value::String(pidfile.clone()));
    }
    if let Some(user) = props.user.as_ref().filter(|u| *u != "root" && *u != "0") {
        victim.insert("user".into(), Value::String(user.clone()));
    }
    doc.insert("victim".into(), Value::Table(victim));
    let dropins: Vec<Value> = unit
        .dropins
        .iter()
        .map(|(_, t)| Value::String(t.clone()))
        .collect();
    let unit_row = |label: &str, extra: Option<&str>| {
        let mut row = Table::new();
        row.insert("kind".into(), Value::String("systemd".into()));
        row.insert("label".into(), Value::String(label.into()));
        row.insert("timeout".into(), Value::String(timeout.clone()));
        row.insert("unit".into(), Value::String(unit.text.clone()));
        let mut d = dropins.clone();
        d.extend(extra.map(|e| Value::String(e.into())));
        if !d.is_empty() {
            row.insert("unit_dropins".into(), Value::Array(d));
        }
        Value::Table(row)
    };
    let mut rows = vec![unit_row(AS_WRITTEN, None)];
    for what in &options.what_if {
        if let Some((label, dropin)) = what.dropin() {
            rows.push(unit_row(label, Some(dropin)));
        }
    }
    if options.what_if.contains(&WhatIf::Emulations) {
        let kill_mode = match props.kill_mode.as_str() {
            m @ ("process" | "mixed" | "control-group") => m,
            _ => "control-group",
        };
        let mut cgroup = Table::new();
        cgroup.insert("kind".into(), Value::String("cgroup".into()));
        cgroup.insert("kill_mode".into(), Value::String(kill_mode.into()));
        cgroup.insert("timeout".into(), Value::String(timeout.clone()));
        rows.push(Value::Table(cgroup));
        let mut pidfd = Table::new();
        pidfd.insert("kind".into(), Value::String("pidfd".into()));
        pidfd.insert("timeout".into(), Value::String(timeout.clone()));
        rows.push(Value::Table(pidfd));
    }
    doc.insert("strategy".into(), Value::Array(rows));
    let body = toml::to_string_pretty(&doc).map_err(|e| ServiceError::Load {
        unit: unit.name.clone(),
        said: e.to_string(),
    })?;
    Ok(format!(
        "# Written by `stopbench service {}`; rerun or edit it with `stopbench run`.\n{body}",
        unit.path.display()
    ))
}

/// A scenario name from a unit's stem: letters, digits, `-`, `_`, `.`.
fn scenario_name(stem: &str) -> String {
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.trim_start_matches(['-', '.', '_']).to_string()
}
