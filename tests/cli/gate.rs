//! In one repository and in CI: `compare --fail-on` and named baselines,
//! the files continuous-benchmarking services read, warm-up rounds, `--set`
//! overrides and the adaptive stop.

use crate::helpers::{repo, rows, run, BIN};
use std::process::Command;

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// With a real program that ignores SIGTERM as the victim: a baseline is
/// saved; a re-run of the same configuration passes the gate; a run with a
/// longer timeout fails it with exit code 3, naming the regression.
#[test]
fn compare_fail_on_gates_a_longer_timeout_and_passes_a_rerun() {
    let baselines = tempfile::tempdir().unwrap();
    let fixture = repo("tests/fixtures/real-term-ignorer.toml");
    let args = "--trials 10";
    let runs = tempfile::tempdir().unwrap();
    let run_as = |name: &str, extra: &[&str]| {
        let out = runs.path().join(name);
        let status = Command::new(BIN)
            .env("STOPBENCH_BASELINES", baselines.path())
            .args(["run", &fixture, "--quiet", "--out"])
            .arg(&out)
            .args(args.split(' '))
            .args(extra)
            .status()
            .unwrap();
        assert!(status.success());
        out
    };
    run_as("base", &["--save-baseline", "main"]);
    let saved = baselines.path().join("main/real-term-ignorer");
    assert!(saved.join("run.json").is_file() && saved.join("trials.csv").is_file());
    let rerun = run_as("rerun", &[]);
    let slower = run_as(
        "slower",
        &[
            "--set",
            "strategy[0].timeout=400ms",
            "--set",
            "strategy[1].timeout=400ms",
        ],
    );
    let gate = |new: &std::path::Path| {
        Command::new(BIN)
            .env("STOPBENCH_BASELINES", baselines.path())
            .args(["compare", "--baseline", "main", "--fail-on", "regression"])
            .arg(new)
            .output()
            .unwrap()
    };
    let same = gate(&rerun);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&same.stdout),
        String::from_utf8_lossy(&same.stderr)
    );
    let worse = gate(&slower);
    let said = String::from_utf8_lossy(&worse.stderr);
    assert_eq!(worse.status.code(), Some(3), "{said}");
    assert!(
        said.contains("regression: plain-kill: median stop slower (p50)"),
        "{said}"
    );
    assert!(
        said.contains("regression: pidfd: p99 stop slower (p99)"),
        "{said}"
    );
    // A gate on misfires alone lets the slower run pass.
    let misfires_only = Command::new(BIN)
        .env("STOPBENCH_BASELINES", baselines.path())
        .args(["compare", "--baseline", "main", "--fail-on", "misfire"])
        .arg(&slower)
        .output()
        .unwrap();
    assert_eq!(misfires_only.status.code(), Some(0));
    let md = std::fs::read_to_string(slower.join("compare.md")).unwrap();
    assert!(
        md.contains("Holm-adjusted") && md.contains("Fisher"),
        "{md}"
    );
    let missing = Command::new(BIN)
        .env("STOPBENCH_BASELINES", baselines.path())
        .args(["compare", "--baseline", "nope"])
        .arg(&slower)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

/// bmf.json (Bencher) and github-benchmark.json are written with every
/// report; the misfire rate's Wilson interval is the lower and upper value.
#[test]
fn continuous_benchmarking_files_are_written() {
    let (dir, _) = run("stale-pidfile", &["--trials", "4"]);
    let run_dir = dir.path().join("run");
    let bmf = json(&run_dir.join("bmf.json"));
    let summary = rows(&run_dir.join("summary.csv"));
    assert!(!summary.is_empty());
    for row in &summary {
        let entry = &bmf[format!("stale-pidfile/{}", row["strategy"])];
        let rate = &entry["misfire-rate"];
        let close = |a: &serde_json::Value, b: &str| {
            (a.as_f64().unwrap() - b.parse::<f64>().unwrap()).abs() < 1e-4
        };
        assert!(close(&rate["value"], &row["misfire_rate"]), "{entry}");
        assert!(
            close(&rate["lower_value"], &row["misfire_rate_lo95"]),
            "{entry} {row:?}"
        );
        assert!(
            close(&rate["upper_value"], &row["misfire_rate_hi95"]),
            "{entry} {row:?}"
        );
        // A latency where the summary has a median, and none where it has not.
        assert_eq!(
            entry["latency"]["value"].as_f64().is_some_and(|v| v > 0.0),
            !row["p50_ms"].is_empty(),
            "{entry} {row:?}"
        );
    }
    let gab = json(&run_dir.join("github-benchmark.json"));
    let entries = gab.as_array().unwrap();
    assert!(entries
        .iter()
        .any(|e| e["unit"] == "%" && e["range"].is_string()));
    assert!(entries
        .iter()
        .all(|e| e["name"].is_string() && e["value"].is_number()));
}

/// Warm-up rounds run (each starts a victim) but are not recorded: the
/// records are numbered from zero after them.
#[test]
fn warmup_rounds_run_and_are_not_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let starts = tmp.path().join("starts");
    let scenario = tmp.path().join("count.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"count-starts\"\ntrials = 4\n[churn]\nrate = 20\n[victim]\nbehaviour = \"exec\"\n\
             command = [\"/bin/sh\", \"-c\", \"echo started >> {}; exec sleep 1000\"]\n\
             [[strategy]]\nkind = \"pidfd\"\ntimeout = \"1s\"\n[[strategy]]\nkind = \"plain-kill\"\ntimeout = \"1s\"\n",
            starts.display()
        ),
    )
    .unwrap();
    let (dir, _) = run(scenario.to_str().unwrap(), &["--warmup", "3"]);
    let started = std::fs::read_to_string(&starts).unwrap().lines().count();
    assert_eq!(started, (3 + 4) * 2);
    let trials = rows(&dir.path().join("run/trials.csv"));
    assert_eq!(trials.len(), 4 * 2);
    let rounds: Vec<u32> = trials.iter().map(|r| r["round"].parse().unwrap()).collect();
    assert_eq!(rounds.iter().min(), Some(&0));
    assert_eq!(rounds.iter().max(), Some(&3));
    let trial_numbers: Vec<u32> = trials.iter().map(|r| r["trial"].parse().unwrap()).collect();
    assert_eq!(trial_numbers, (0..8).collect::<Vec<_>>());
    let meta = json(&dir.path().join("run/run.json"));
    assert_eq!(meta["scenario"]["warmup"], 3);
    assert!(meta["load"]["other_runs"].is_array() && meta["load"].get("steal_share").is_some());
}

/// `--set` changes any key, lists included: a list makes a sweep; a path
/// that names no table is refused with the key.
#[test]
fn set_overrides_keys_and_lists() {
    let fixture = repo("tests/fixtures/short-timeout.toml");
    let (dir, _) = run(
        &fixture,
        &[
            "--set",
            "churn.rate=[50, 100]",
            "--set",
            "strategy[0].timeout=60ms",
            "--strategy",
            "plain-kill",
            "--trials",
            "2",
        ],
    );
    let sweep = json(&dir.path().join("run/sweep.json"));
    assert_eq!(sweep["points"].as_array().unwrap().len(), 2, "{sweep}");
    let scenario = std::fs::read_to_string(dir.path().join("run/scenario.toml")).unwrap();
    assert!(scenario.contains("timeout = \"60ms\""), "{scenario}");
    let bad = Command::new(BIN)
        .args(["run", &fixture, "--set", "trials.x=1", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let why = String::from_utf8_lossy(&bad.stderr);
    assert!(
        why.contains("--set trials.x") && why.contains("not a table"),
        "{why}"
    );
}

/// `--until-precision` stops once each strategy's misfire interval is as
/// narrow as asked, and says how many trials that took: 0 misfires in N
/// reach a 20%-wide interval at N = 16 (3.84 / (16 + 3.84) < 0.2).
#[test]
fn until_precision_stops_at_the_trials_it_needs() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "run",
            &repo("tests/fixtures/fleet.toml"),
            "--strategy",
            "pidfd",
        ])
        .args(["--until-precision", "20%", "--trials", "500", "--out"])
        .arg(out_dir.path().join("run"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("precision: `pidfd` needed 16 trials"),
        "{said}"
    );
    let trials = rows(&out_dir.path().join("run/trials.csv")).len();
    assert!((16..=18).contains(&trials), "{trials}");
    let meta = json(&out_dir.path().join("run/run.json"));
    assert!(meta["incomplete"].is_null(), "{}", meta["incomplete"]);
    let report = std::fs::read_to_string(out_dir.path().join("run/report.md")).unwrap();
    assert!(report.contains("`pidfd` needed 16."), "{report}");
}

/// Honest tails, with a real bash daemon as the victim: when one instance
/// in five ignores SIGTERM, the stops killed at the timeout leave their
/// `sleep` behind (censored). Their latency is longer than their watch, so
/// the p99 is only a bound, "> 300 ms", wherever it is written; `compare`
/// calls that a regression of the tail and of the outcomes, while reruns of
/// the all-handling daemon against its baseline (saved three times, which
/// calibrates the noise) pass.
#[test]
fn a_stop_that_never_finished_is_the_slowest_stop() {
    let baselines = tempfile::tempdir().unwrap();
    let runs = tempfile::tempdir().unwrap();
    let run_as = |name: &str, fixture: &str, seed: u32, extra: &[&str]| {
        let out = runs.path().join(name);
        let output = Command::new(BIN)
            .env("STOPBENCH_BASELINES", baselines.path())
            .arg("run")
            .arg(repo(fixture))
            .args(["--out"])
            .arg(&out)
            .args(["--set", &format!("seed={seed}")])
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        (out, String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let compare = |new: &std::path::Path, gates: &str| {
        Command::new(BIN)
            .env("STOPBENCH_BASELINES", baselines.path())
            .args(["compare", "--baseline", "main", "--fail-on", gates])
            .arg(new)
            .output()
            .unwrap()
    };
    let all = "tests/fixtures/term-share.toml";
    for seed in [1, 2, 3] {
        run_as(
            &format!("base-{seed}"),
            all,
            seed,
            &["--save-baseline", "main"],
        );
    }
    let kept = std::fs::read_dir(baselines.path().join("main/term-share.runs")).unwrap();
    assert_eq!(kept.count(), 3, "every saved run is kept for calibration");
    for seed in [4, 5] {
        let (rerun, _) = run_as(&format!("rerun-{seed}"), all, seed, &["--quiet"]);
        let same = compare(&rerun, "regression");
        assert_eq!(
            same.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&same.stdout),
            String::from_utf8_lossy(&same.stderr)
        );
        let said = String::from_utf8_lossy(&same.stdout);
        assert!(said.contains("3 saved baseline runs"), "{said}");
    }

    let (share, terminal) = run_as("share", "tests/fixtures/term-share-fifth.toml", 6, &[]);
    let summary = rows(&share.join("summary.csv"));
    let pidfd = &summary[0];
    assert!(pidfd["censored"].parse::<u64>().unwrap() > 0, "{pidfd:?}");
    assert_eq!(pidfd["p99_lower_bound"], "true", "{pidfd:?}");
    assert_eq!(pidfd["max_lower_bound"], "true", "{pidfd:?}");
    assert!(pidfd["mean_ms"].is_empty(), "no mean hides a censored stop");
    // The bound is the watch: about the 300 ms timeout, never a fast stop.
    let bound: f64 = pidfd["p99_ms"].parse().unwrap();
    assert!((300.0..2000.0).contains(&bound), "{bound}");
    assert!(terminal.contains(">300."), "{terminal}");
    let md = std::fs::read_to_string(share.join("report.md")).unwrap();
    assert!(md.contains("> 300."), "the report's tables say \"> C\"");
    let bmf = json(&share.join("bmf.json"));
    assert!(bmf["term-share/pidfd"]["latency-p99"].is_null(), "{bmf}");
    assert!(
        bmf["term-share/pidfd"]["censored-share"]["value"]
            .as_f64()
            .unwrap()
            > 0.0
    );

    let tail = compare(&share, "p99");
    let said = String::from_utf8_lossy(&tail.stderr);
    assert_eq!(tail.status.code(), Some(3), "{said}");
    assert!(
        said.contains("regression: pidfd: p99 stop slower (p99)"),
        "{said}"
    );
    let printed = String::from_utf8_lossy(&tail.stdout);
    assert!(printed.contains("→ > 300."), "{printed}");
    let outcomes = compare(&share, "outcomes");
    let said = String::from_utf8_lossy(&outcomes.stderr);
    assert_eq!(outcomes.status.code(), Some(3), "{said}");
    assert!(
        said.contains("regression: pidfd: more censored trials"),
        "{said}"
    );
    assert!(
        said.contains("regression: pidfd: more killed trials"),
        "{said}"
    );
}
