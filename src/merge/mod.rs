//! `stopbench merge`: many hosts' runs of one scenario as one run. The
//! trials are pooled row by row (each row tagged with its host), so every
//! histogram of the merged run is the sum of the hosts' histograms, which
//! is lossless, and every percentile is read from that sum, never averaged.
//! Counts are summed; the rates' intervals are the pooled Wilson intervals.
//! Each host's own run directory is kept inside, under `hosts/`.

pub mod agreement;

use crate::results::merged::{HostRun, Merged};
use crate::results::{bundle, RunMeta, RunResults};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("`{path}`: {why}")]
    Input { path: String, why: String },
    #[error("the runs differ in {what}: `{first}` has {a}, `{other}` has {b}; merge runs of one {what} only")]
    Differ {
        what: &'static str,
        first: String,
        a: String,
        other: String,
        b: String,
    },
    #[error("the hosts ran different kernels (`{first}` {a}, `{other}` {b}); pass --allow-kernels to merge them anyway (the report marks each host's kernel)")]
    Kernels {
        first: String,
        a: String,
        other: String,
        b: String,
    },
    #[error(
        "two runs call their host `{0}`; give each host its own name (`stopbench run --host NAME`)"
    )]
    SameHost(String),
    #[error(
        "`{0}` holds something other than a merged run; choose an empty or new --out directory"
    )]
    OutNotEmpty(String),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("the merged histogram of `{0}` is not the sum of the hosts' histograms")]
    NotLossless(String),
}

pub struct MergeOptions {
    /// Run directories or bundles (`run --bundle`, `stopbench pack`).
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub allow_kernels: bool,
    pub stops_per_day: f64,
}

/// The files of a run that hold one row per trial (or per hit).
const ROW_FILES: [&str; 4] = [
    "trials.csv",
    "misfires.csv",
    "victim-signals.csv",
    "leaks.csv",
];

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> MergeError + '_ {
    move |source| MergeError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// One input, unpacked or copied under `hosts/`, and its run.json.
struct Input {
    host: String,
    dir: PathBuf,
    meta: RunMeta,
}

pub fn merge(options: &MergeOptions) -> Result<RunResults, MergeError> {
    prepare_out(&options.out)?;
    let merged = merge_into(options);
    if merged.is_err() {
        // Nothing half-made is left: the directory was new, empty or an
        // earlier merge's (replaced).
        let _ = std::fs::remove_dir_all(&options.out);
    }
    merged
}

fn merge_into(options: &MergeOptions) -> Result<RunResults, MergeError> {
    let out = &options.out;
    let hosts_dir = out.join("hosts");
    std::fs::create_dir_all(&hosts_dir).map_err(write_err(&hosts_dir))?;
    let mut inputs: Vec<Input> = Vec::new();
    for (i, path) in options.inputs.iter().enumerate() {
        let input = take_in(path, &hosts_dir, i)?;
        if inputs.iter().any(|o| o.host == input.host) {
            return Err(MergeError::SameHost(input.host));
        }
        inputs.push(input);
    }
    check_alike(&inputs, options.allow_kernels)?;
    for name in ROW_FILES {
        pool_rows(&inputs, name, &out.join(name))?;
    }
    let meta = merged_meta(&inputs, options);
    let text = toml::to_string(&meta.scenario).unwrap_or_default();
    let scenario_path = out.join("scenario.toml");
    std::fs::write(&scenario_path, text).map_err(write_err(&scenario_path))?;
    let json = serde_json::to_string_pretty(&meta).expect("run.json serializes") + "\n";
    crate::report::write_atomically(&out.join("run.json"), json.as_bytes())?;
    let results = crate::report::render_dir(out)?;
    check_lossless(&inputs, &results)?;
    Ok(results)
}

/// A new or empty directory, or an earlier merge's, which is replaced.
fn prepare_out(out: &Path) -> Result<(), MergeError> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(write_err(out))?
            .next()
            .is_none();
        let merged_before = std::fs::read_to_string(out.join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<RunMeta>(&t).ok())
            .is_some_and(|m| m.merged.is_some());
        if !empty && !merged_before {
            return Err(MergeError::OutNotEmpty(out.display().to_string()));
        }
        if merged_before {
            std::fs::remove_dir_all(out).map_err(write_err(out))?;
        }
    }
    std::fs::create_dir_all(out).map_err(write_err(out))
}

/// Unpacks (a bundle) or copies (a directory) input `i` to `hosts/<host>`.
fn take_in(path: &Path, hosts_dir: &Path, i: usize) -> Result<Input, MergeError> {
    let bad = |why: String| MergeError::Input {
        path: path.display().to_string(),
        why,
    };
    let staging = hosts_dir.join(format!(".input-{i}"));
    let _ = std::fs::remove_dir_all(&staging);
    let dir = if path.is_dir() {
        bundle::copy_dir(path, &staging).map_err(|e| bad(e.to_string()))?;
        staging.clone()
    } else if path.is_file() {
        bundle::unpack(path, &staging).map_err(|e| bad(e.to_string()))?
    } else {
        return Err(bad("no such file or directory".into()));
    };
    if dir.join("sweep.json").exists() {
        return Err(bad(
            "a sweep: merge the runs of one point (its subdirectory) at a time".into(),
        ));
    }
    let meta_text =
        std::fs::read_to_string(dir.join("run.json")).map_err(|e| bad(format!("run.json: {e}")))?;
    let meta: RunMeta =
        serde_json::from_str(&meta_text).map_err(|e| bad(format!("run.json: {e}")))?;
    if meta.merged.is_some() {
        return Err(bad("already a merged run: merge the hosts' own runs".into()));
    }
    let host = if meta.machine.host.is_empty() {
        format!("host-{}", i + 1)
    } else {
        meta.machine.host.clone()
    };
    // The name becomes a directory and an HdrHistogram tag.
    if !crate::results::plain_name(&host) {
        return Err(bad(format!(
            "its host is called `{host}`: a host name takes letters, digits, `-`, `_` and `.` \
             (not first); rerun it with `--host NAME`"
        )));
    }
    let target = hosts_dir.join(&host);
    if target.exists() {
        return Err(MergeError::SameHost(host));
    }
    std::fs::rename(&dir, &target).map_err(write_err(&target))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Input {
        host,
        dir: target,
        meta,
    })
}

/// The scenario as it compares across hosts: each host may replay its own
/// observed churn (`run --churn-from`), which is the host's, not the
/// experiment's.
fn experiment(meta: &RunMeta) -> String {
    let mut s = meta.scenario.clone();
    s.churn.replay = None;
    toml::to_string(&s).unwrap_or_default()
}

/// The same stopbench, the same scenario and (unless allowed) one kernel.
fn check_alike(inputs: &[Input], allow_kernels: bool) -> Result<(), MergeError> {
    let Some(first) = inputs.first() else {
        return Err(MergeError::Input {
            path: "(none)".into(),
            why: "give at least one run to merge".into(),
        });
    };
    for other in &inputs[1..] {
        let differ = |what, a: String, b: String| MergeError::Differ {
            what,
            first: first.host.clone(),
            a,
            other: other.host.clone(),
            b,
        };
        if other.meta.stopbench_version != first.meta.stopbench_version {
            return Err(differ(
                "stopbench version",
                first.meta.stopbench_version.clone(),
                other.meta.stopbench_version.clone(),
            ));
        }
        if experiment(&other.meta) != experiment(&first.meta) {
            return Err(differ(
                "scenario",
                format!("scenario `{}`", first.meta.scenario.name),
                format!(
                    "scenario `{}`{}",
                    other.meta.scenario.name,
                    first_difference(&experiment(&first.meta), &experiment(&other.meta))
                ),
            ));
        }
        if !allow_kernels && other.meta.machine.kernel != first.meta.machine.kernel {
            return Err(MergeError::Kernels {
                first: first.host.clone(),
                a: first.meta.machine.kernel.clone(),
                other: other.host.clone(),
                b: other.meta.machine.kernel.clone(),
            });
        }
    }
    Ok(())
}

/// `(first differing line: ...)` of two scenario texts.
fn first_difference(a: &str, b: &str) -> String {
    a.lines()
        .zip(b.lines())
        .find(|(x, y)| x != y)
        .map_or(String::new(), |(x, y)| {
            format!(" (first difference: `{x}` against `{y}`)")
        })
}

/// Every input's rows of `name`, each with its host, in one file.
fn pool_rows(inputs: &[Input], name: &str, to: &Path) -> Result<(), MergeError> {
    let mut writer = csv::Writer::from_path(to).map_err(|e| MergeError::Write {
        path: to.display().to_string(),
        source: e.into(),
    })?;
    let mut header_written = false;
    for input in inputs {
        let path = input.dir.join(name);
        if !path.exists() {
            continue;
        }
        let bad = |e: csv::Error| MergeError::Input {
            path: path.display().to_string(),
            why: e.to_string(),
        };
        let mut reader = csv::Reader::from_path(&path).map_err(bad)?;
        let header = reader.headers().map_err(bad)?.clone();
        let io = |e: csv::Error| MergeError::Write {
            path: to.display().to_string(),
            source: e.into(),
        };
        if !header_written {
            let mut h = header.clone();
            h.push_field("host");
            writer.write_record(&h).map_err(io)?;
            header_written = true;
        }
        for record in reader.records() {
            let mut record = record.map_err(bad)?;
            record.push_field(&input.host);
            writer.write_record(&record).map_err(io)?;
        }
    }
    writer.flush().map_err(write_err(to))
}

/// run.json of the merged run: the first host's, with the pool's span, every
/// host's warnings, and the hosts themselves.
fn merged_meta(inputs: &[Input], options: &MergeOptions) -> RunMeta {
    let mut meta = inputs[0].meta.clone();
    meta.scenario.churn.replay = None;
    meta.started_unix = inputs
        .iter()
        .map(|i| i.meta.started_unix)
        .min()
        .unwrap_or(0);
    meta.finished_unix = inputs
        .iter()
        .map(|i| i.meta.finished_unix)
        .max()
        .unwrap_or(0);
    let hosts = inputs.len();
    meta.machine.host = format!("{hosts} hosts");
    let kernels_differ = inputs
        .iter()
        .any(|i| i.meta.machine.kernel != inputs[0].meta.machine.kernel);
    let incomplete: Vec<String> = inputs
        .iter()
        .filter_map(|i| {
            i.meta
                .incomplete
                .as_ref()
                .map(|w| format!("{}: {w}", i.host))
        })
        .collect();
    meta.incomplete = (!incomplete.is_empty()).then(|| incomplete.join("; "));
    meta.warnings = inputs
        .iter()
        .flat_map(|i| {
            i.meta
                .warnings
                .iter()
                .map(move |w| format!("{}: {w}", i.host))
        })
        .collect();
    if kernels_differ {
        meta.warnings.push(
            "the hosts ran different kernels (merged with --allow-kernels): see each host's kernel in the Hosts section"
                .into(),
        );
    }
    for i in &inputs[1..] {
        for u in &i.meta.unavailable {
            if !meta.unavailable.iter().any(|m| m.strategy == u.strategy) {
                meta.unavailable.push(u.clone());
            }
        }
    }
    meta.load = None;
    meta.host = None;
    meta.churn = None;
    meta.systemd = None;
    meta.pace = None;
    meta.floors = None;
    meta.strategies = Vec::new();
    meta.merged = Some(Merged {
        hosts: inputs.iter().map(host_run).collect(),
        kernels_differ,
        stops_per_day: options.stops_per_day,
    });
    meta
}

fn host_run(input: &Input) -> HostRun {
    let m = &input.meta;
    HostRun {
        host: input.host.clone(),
        machine: m.machine.clone(),
        load: m.load.clone(),
        host_churn: m.host.clone(),
        achieved_churn: m.churn.as_ref().map(|c| c.achieved_rate),
        started_unix: m.started_unix,
        finished_unix: m.finished_unix,
        incomplete: m.incomplete.clone(),
        warnings: m.warnings.clone(),
        dir: format!("hosts/{}", input.host),
    }
}

/// The merged latency histogram of every strategy is exactly the sum of
/// the hosts' own (their .hlog files, every interval).
fn check_lossless(inputs: &[Input], results: &RunResults) -> Result<(), MergeError> {
    for s in &results.stats {
        let mut sum = hdrhistogram::Histogram::<u64>::new_from(&s.latency_us);
        for input in inputs {
            let Ok(log) = std::fs::read(input.dir.join(format!("{}.hlog", s.strategy))) else {
                continue;
            };
            let parts = crate::report::hlog::read_all(&log)
                .map_err(|_| MergeError::NotLossless(s.strategy.clone()))?;
            for (_, h) in parts {
                sum.add(&h)
                    .map_err(|_| MergeError::NotLossless(s.strategy.clone()))?;
            }
        }
        if sum != s.latency_us {
            return Err(MergeError::NotLossless(s.strategy.clone()));
        }
    }
    Ok(())
}
