//! Report tests from a hand-built `RunResults`: the Markdown and the HTML
//! text are snapshots; the SVG is checked for its labels and series.

use super::{content, html, markdown, plot};
use crate::churn::ChurnReport;
use crate::measure::{Outcome, Recorder, TrialTally};
use crate::results::{Machine, MisfireRow, RunMeta, RunResults};
use crate::sandbox::{SandboxFacts, SandboxMode};

const SCENARIO: &str = r#"
name = "fixture"
description = "Hand-built results for report tests."
trials = 4
seed = 1
[sandbox]
pid_max = 1024
[churn]
rate = 2000
bystanders = ["vim /usr/bin/foo_daemon.conf"]
forced_reuse = true
[victim]
command = "/usr/bin/foo_daemon"
[[strategy]]
kind = "plain-kill"
timeout = "2s"
[[strategy]]
kind = "pkill-f"
timeout = "2s"
[[strategy]]
kind = "pidfd"
timeout = "2s"
"#;

/// The run's metadata: the scenario, a machine, a sandbox and churn, a host.
fn fixture_meta(scenario: crate::scenario::Scenario) -> RunMeta {
    RunMeta {
        stopbench_version: "0.0.0-test".into(),
        scenario,
        machine: Machine {
            host: "test-host".into(),
            kernel: "6.18.0-test".into(),
            cores: 2,
            host_pid_max: Some(32768),
            uid: 0,
        },
        sandbox: Some(SandboxFacts {
            mode: SandboxMode::Root,
            pid_max_requested: Some(1024),
            pid_max: Some(1024),
            pid_max_note: None,
            systemd_version: None,
        }),
        churn: Some(ChurnReport {
            target: "2000/s".into(),
            spawned: 20_000,
            failed_spawns: 0,
            seconds: 10.0,
            achieved_rate: 2000.0,
            throttled_by_max_live: 0,
            first_reuse_after_ms: None,
            forced_reuse_p50_us: None,
            forced_reuses: 0,
            replay_target_rate: None,
            held_pids: Some(12.0),
            proc_scan_us: None,
            processes: None,
        }),
        started_unix: 1_795_000_000,
        finished_unix: 1_795_000_010,
        incomplete: None,
        warnings: Vec::new(),
        load: None,
        systemd: None,
        unavailable: Vec::new(),
        floors: None,
        host: Some(crate::model::HostChurn {
            source: "observed for 10s in 100 samples".into(),
            scope: crate::model::host::ChurnScope::PidNamespace,
            pid_max: 4_194_304,
            live_pids: 1_000,
            interval_s: 0.1,
            rates: vec![1_500.0, 2_500.0],
        }),
        pace: None,
        strategies: Vec::new(),
        merged: None,
    }
}

/// Twelve trials: plain-kill misfiring once each, pkill-f twice, pidfd never.
fn fixture_stats(scenario: &crate::scenario::Scenario) -> Vec<crate::measure::StrategyStats> {
    let labels: Vec<String> = scenario.strategies.iter().map(|s| s.label()).collect();
    let mut recorder = Recorder::new(&labels);
    let trials: [(&str, Outcome, u64, u64); 12] = [
        ("plain-kill", Outcome::Exited, 5_400, 1),
        ("plain-kill", Outcome::Exited, 5_600, 1),
        ("plain-kill", Outcome::Exited, 5_900, 1),
        ("plain-kill", Outcome::Exited, 6_100, 1),
        ("pkill-f", Outcome::Exited, 9_100, 2),
        ("pkill-f", Outcome::Exited, 9_400, 2),
        ("pkill-f", Outcome::Exited, 9_800, 2),
        ("pkill-f", Outcome::Exited, 12_700, 2),
        ("pidfd", Outcome::Exited, 5_300, 0),
        ("pidfd", Outcome::Exited, 5_400, 0),
        ("pidfd", Outcome::Exited, 5_500, 0),
        ("pidfd", Outcome::Killed, 2_001_200, 0),
    ];
    for (strategy, outcome, latency_us, misfires) in trials {
        recorder.record(&TrialTally {
            strategy,
            outcome,
            latency_us: Some(latency_us),
            completion_us: latency_us,
            misfires,
            // One pidfd trial's victim broadcast a signal (its row is below).
            victim_signals: u64::from(strategy == "pidfd" && latency_us == 5_400),
            leaks: 0,
            pid_reused: strategy == "plain-kill",
            race_window_us: match strategy {
                "plain-kill" => Some(200_000 + latency_us),
                "pkill-f" => Some(latency_us / 8),
                _ => None,
            },
            exposure_us: None,
            follow_us: None,
            cpu: None,
        });
    }
    recorder.strategies
}

/// A misfire row of the fixture's scenario, victim 400.
fn misfire(
    trial: u32,
    strategy: &str,
    hit_pid: i32,
    role: &str,
    cmd: &str,
    signal: &str,
) -> MisfireRow {
    MisfireRow {
        scenario: "fixture".into(),
        strategy: strategy.into(),
        trial,
        victim_pid: 400,
        victim_cmdline: "/usr/bin/foo_daemon".into(),
        hit_pid,
        hit_role: role.into(),
        hit_cmdline: cmd.into(),
        signal: signal.into(),
        seen_by: "death".into(),
    }
}

/// Fixed results: plain-kill misfires every trial, pkill-f hits two
/// processes per trial, pidfd is clean but one stop is killed at 2 s.
pub fn fixture(dir: &std::path::Path) -> RunResults {
    let scenario = crate::scenario::parse("fixture.toml", SCENARIO).unwrap();
    let misfires = vec![
        misfire(
            0,
            "plain-kill",
            400,
            "reuse-holder",
            "/usr/sbin/unrelated-service --holds-a-recycled-pid",
            "SIGKILL",
        ),
        misfire(
            1,
            "pkill-f",
            4,
            "bystander",
            "vim /usr/bin/foo_daemon.conf",
            "SIGTERM",
        ),
        misfire(
            1,
            "pkill-f",
            420,
            "helper",
            "/bin/sh -c pkill -TERM -f /usr/bin/foo_daemon",
            "SIGTERM",
        ),
    ];
    RunResults {
        dir: dir.to_path_buf(),
        precision: Vec::new(),
        timeline: Default::default(),
        hosts: Vec::new(),
        stats: fixture_stats(&scenario),
        meta: fixture_meta(scenario),
        scenario_toml: SCENARIO.trim().to_string(),
        misfires,
        victim_signals: vec![MisfireRow {
            seen_by: "handler".into(),
            ..misfire(
                5,
                "pidfd",
                6,
                "bystander",
                "tail -f /var/log/foo_daemon.log",
                "SIGUSR1",
            )
        }],
        notes: Default::default(),
    }
}

fn render() -> (tempfile::TempDir, String, String, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let results = fixture(dir.path());
    let plots = plot::render_run(&results).unwrap();
    let svgs: Vec<(String, String)> = plots
        .iter()
        .map(|p| (p.stem.to_string(), p.svg.clone()))
        .collect();
    let doc = content::document(&results, plots);
    (dir, markdown::render(&doc), html::render(&doc), svgs)
}

/// The HTML with each inline SVG replaced by a marker, for a readable snapshot.
fn without_svg(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("</svg>")
            .map(|e| start + e + 6)
            .unwrap_or(rest.len());
        out.push_str("<svg …/>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn markdown_report_snapshot() {
    let (_dir, md, _, _) = render();
    insta::assert_snapshot!("report_md", md);
}

#[test]
fn html_report_snapshot() {
    let (_dir, _, html, _) = render();
    assert_eq!(html.matches("<figure class=\"plot\"").count(), 4);
    // A URL is allowed only as an XML namespace name, which is never fetched.
    for scheme in ["http://", "https://", "//"] {
        for (at, _) in html.match_indices(scheme) {
            let before = &html[..at];
            let namespace = before.ends_with("xmlns=\"") || before.ends_with("xmlns:xlink=\"");
            let in_url =
                scheme == "//" && (before.ends_with("http:") || before.ends_with("https:"));
            assert!(
                namespace || in_url || !before.ends_with('"'),
                "an external resource at {at}: {}",
                &html[at.saturating_sub(40)..(at + 40).min(html.len())]
            );
        }
    }
    assert!(!html.contains("<script"), "no scripts");
    insta::assert_snapshot!("index_html", without_svg(&html));
}

#[test]
fn plots_have_axis_labels_and_one_series_per_strategy() {
    let (dir, _, _, svgs) = render();
    let svg = |stem: &str| {
        svgs.iter()
            .find(|(s, _)| s == stem)
            .map(|(_, svg)| svg.clone())
            .unwrap()
    };
    let colours: Vec<String> = (0..3)
        .map(|i| {
            let c = plot::colour(i);
            format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
        })
        .collect();
    for (stem, axis) in [
        ("latency_percentiles", "stop latency (ms)"),
        ("latency_cdf", "from the stop request (ms)"),
    ] {
        let text = svg(stem);
        for label in [axis, "plain-kill", "pkill-f", "pidfd"] {
            assert!(text.contains(label), "{stem}: no `{label}`");
        }
        for colour in &colours {
            // One series line per strategy, plus its legend swatch.
            let lines = text.matches(&format!("stroke=\"{colour}\"")).count();
            assert!(lines >= 2, "{stem}: {colour} drawn {lines} times");
        }
        assert!(
            dir.path()
                .join(format!("{stem}.png"))
                .metadata()
                .unwrap()
                .len()
                > 5_000
        );
    }
    let percentiles = svg("latency_percentiles");
    // Four samples per strategy reach the 90th percentile, no further.
    for tick in ["0%", "90%"] {
        assert!(
            percentiles.contains(&format!("\n{tick}\n")),
            "no {tick} tick"
        );
    }
    let rates = svg("misfire_rate");
    for label in ["trials with a misfire", "4/4", "0/4"] {
        assert!(rates.contains(label), "misfire_rate: no `{label}`");
    }
    let outcomes = svg("outcomes");
    for label in ["exited", "killed", "survived", "share of trials"] {
        assert!(outcomes.contains(label), "outcomes: no `{label}`");
    }
}

#[test]
fn recommendation_names_the_clean_strategy_with_numbers() {
    let (_dir, md, _, _) = render();
    let rec = md
        .split("## Recommendation")
        .nth(1)
        .unwrap()
        .split("## Results")
        .next()
        .unwrap();
    assert!(
        rec.contains("Use **pidfd**: 0 misfires in 4 trials (< 49.0%, one-sided 97.5%)"),
        "{rec}"
    );
    assert!(
        rec.contains("**pkill-f**: misfired in 4 of 4 trials"),
        "{rec}"
    );
    // The unit settings implement what pidfd does: the main process only.
    assert!(rec.contains("KillMode=process"), "{rec}");
}
