//! Reports: the HTML page in a real browser, byte-for-byte re-rendering,
//! comparisons, sweeps, and the machine-readable exports.

use super::helpers::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Every file of a directory tree, by relative path.
fn snapshot_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Headless Chromium on `page` with a profile of its own and nothing
/// fetched from the network.
fn headless_chromium(
    profile: &std::path::Path,
    extra: &[&str],
    page: &str,
) -> std::process::Output {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is needed for this test: run `scripts/setup --tests`");
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(page)
        .output()
        .unwrap()
}

/// The page shows the table and every plot in headless
/// Chromium; a screenshot goes in the run directory.
#[test]
fn html_report_renders_in_chromium() {
    let (dir, _) = run("seed-pkill", &["--trials", "4"]);
    let run_dir = dir.path().join("run");
    for file in [
        "report.md",
        "index.html",
        "latency_percentiles.png",
        "latency_cdf.svg",
        "misfire_rate.png",
        "outcomes.svg",
    ] {
        assert!(run_dir.join(file).exists(), "{file} missing");
    }
    let page = format!("file://{}", run_dir.join("index.html").display());
    let profile = tempfile::tempdir().unwrap();
    let browser = |extra: &[&str]| headless_chromium(profile.path(), extra, &page);
    let dom = browser(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<table>") && dom.contains("<th class=\"n\">p99</th>"),
        "no results table"
    );
    for strategy in ["plain-kill", "execstoppost-check", "pkill-f", "pidfd"] {
        assert!(
            dom.contains(&format!("<tr><td>{strategy}</td>")),
            "no row for {strategy}"
        );
    }
    // A plot with data draws marks in the series' colours (axes, grid and
    // background are black and white): lines of three points or more (a
    // legend's sample line has two) or bars. One colour per strategy in the
    // three plots by strategy; at least one outcome's in the outcomes plot.
    for (plot, mark, colours) in [
        ("latency_percentiles", "polyline", 4),
        ("latency_cdf", "polyline", 4),
        ("misfire_rate", "rect", 4),
        ("outcomes", "rect", 1),
    ] {
        let start = dom
            .find(&format!("<figure class=\"plot\" id=\"{plot}\">"))
            .unwrap_or_else(|| panic!("no figure {plot}"));
        let figure = &dom[start..start + dom[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<svg"), "{plot} has no drawing");
        let found = mark_colours(figure, mark);
        assert!(found.len() >= colours, "{plot} has data in {found:?} only");
    }
    let shot = run_dir.join("screenshot.png");
    let out = browser(&[
        "--window-size=1200,4000",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shot.metadata().unwrap().len() > 50_000,
        "screenshot looks empty"
    );
}

/// The colours of an SVG's data marks of kind `mark` (`polyline` of three
/// points or more, or `rect`), black and white left out.
fn mark_colours(svg: &str, mark: &str) -> std::collections::BTreeSet<String> {
    let mut colours = std::collections::BTreeSet::new();
    for tag in svg.split('<').filter(|t| t.starts_with(mark)) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        if mark == "polyline" {
            let points = tag.split("points=\"").nth(1).unwrap_or("");
            let points = &points[..points.find('"').unwrap_or(0)];
            if points.split_whitespace().count() < 3 {
                continue;
            }
        }
        for attr in ["stroke=\"#", "fill=\"#"] {
            if let Some(at) = tag.find(attr) {
                let colour = tag[at + attr.len()..].chars().take(6).collect::<String>();
                let colour = colour.to_ascii_uppercase();
                if colour != "000000" && colour != "FFFFFF" {
                    colours.insert(colour);
                }
            }
        }
    }
    colours
}

/// `stopbench report DIR` reproduces the report byte for byte.
#[test]
fn report_rerenders_byte_for_byte() {
    let (dir, _) = run("default", &["--trials", "3"]);
    let run_dir = dir.path().join("run");
    let before = snapshot_files(&run_dir);
    for derived in [
        "summary.csv",
        "summary.json",
        "report.md",
        "index.html",
        "latency_percentiles.png",
        "pidfd.hlog",
        "pidfd.hgrm",
    ] {
        std::fs::remove_file(run_dir.join(derived)).unwrap();
    }
    let out = Command::new(BIN)
        .arg("report")
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = snapshot_files(&run_dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &before {
        assert!(after[name] == *bytes, "{name} differs after re-rendering");
    }
}

/// Summary.json carries what summary.csv does.
#[test]
fn summary_json_matches_summary_csv() {
    let (dir, _) = run("stale-pidfile", &["--trials", "3"]);
    let csv = summary(dir.path());
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap(),
    )
    .unwrap();
    let strategies = json["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), csv.len());
    for s in strategies {
        let row = &csv[s["strategy"].as_str().unwrap()];
        for (key, value) in s.as_object().unwrap() {
            let from_csv = &row[key];
            match value {
                serde_json::Value::Null => assert_eq!(from_csv, "", "{key}"),
                serde_json::Value::String(text) => assert_eq!(from_csv, text, "{key}"),
                serde_json::Value::Bool(b) => assert_eq!(from_csv, &b.to_string(), "{key}"),
                number => assert_eq!(
                    from_csv.parse::<f64>().unwrap(),
                    number.as_f64().unwrap(),
                    "{key}"
                ),
            }
        }
    }
}

fn compare(old: &Path, new: &Path) -> String {
    let out = Command::new(BIN)
        .arg("compare")
        .arg(old)
        .arg(new)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(new.join("compare.md").exists());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two runs of one configuration show no significant change; a
/// longer timeout is flagged as a latency change.
#[test]
fn compare_flags_real_changes_only() {
    let fixture = repo("tests/fixtures/short-timeout.toml");
    let args = [
        "--trials",
        "6",
        "--strategy",
        "plain-kill",
        "--strategy",
        "pidfd",
    ];
    let (a, _) = run(&fixture, &args);
    let (b, _) = run(&fixture, &args);
    let same = compare(&a.path().join("run"), &b.path().join("run"));
    assert!(
        same.starts_with("short-timeout: no significant change"),
        "{same}"
    );

    let slower = a.path().join("slower.toml");
    std::fs::write(
        &slower,
        std::fs::read_to_string(&fixture)
            .unwrap()
            .replace("\"200ms\"", "\"400ms\""),
    )
    .unwrap();
    let (c, _) = run(slower.to_str().unwrap(), &args);
    let changed = compare(&a.path().join("run"), &c.path().join("run"));
    assert!(
        changed
            .contains("significant change: plain-kill latency regressed; pidfd latency regressed"),
        "{changed}"
    );
}

#[test]
fn compare_refuses_different_scenarios() {
    let (a, _) = run("stale-pidfile", &["--trials", "1", "--strategy", "pidfd"]);
    let (b, _) = run("default", &["--trials", "1", "--strategy", "pidfd"]);
    let out = Command::new(BIN)
        .arg("compare")
        .arg(a.path().join("run"))
        .arg(b.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different scenarios"));
}

/// A sweep over four churn rates renders its trend plot.
#[test]
fn churn_rate_sweep_renders_the_trend() {
    let (dir, _) = run("sweep-churn-rate", &["--trials", "2"]);
    let run_dir = dir.path().join("run");
    for file in [
        "sweep.json",
        "sweep.csv",
        "sweep_trend.svg",
        "sweep_trend.png",
        "index.html",
        "report.md",
    ] {
        assert!(run_dir.join(file).exists(), "{file} missing");
    }
    for point in ["rate-0", "rate-500", "rate-2000", "rate-max"] {
        assert!(
            run_dir.join(point).join("index.html").exists(),
            "{point} has no report"
        );
    }
    let sweep = rows(&run_dir.join("sweep.csv"));
    assert_eq!(sweep.len(), 4 * 3, "4 rates x 3 strategies");
    let svg = std::fs::read_to_string(run_dir.join("sweep_trend.svg")).unwrap();
    for label in [
        "churn.rate",
        "trials with a misfire",
        "0/s",
        "500/s",
        "2000/s",
        "max (",
    ] {
        assert!(svg.contains(label), "trend plot has no `{label}`");
    }
    let before = snapshot_files(&run_dir);
    let out = Command::new(BIN)
        .arg("report")
        .arg(&run_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        before == snapshot_files(&run_dir),
        "re-rendering a sweep changed it"
    );
}

/// Every shipped scenario runs and writes its report: a third of them per
/// test, so each stays well inside the per-test deadline on a busy machine.
#[test]
fn every_shipped_scenario_writes_its_report_first_third() {
    shipped_scenarios_write_their_reports(0);
}

#[test]
fn every_shipped_scenario_writes_its_report_second_third() {
    shipped_scenarios_write_their_reports(1);
}

#[test]
fn every_shipped_scenario_writes_its_report_last_third() {
    shipped_scenarios_write_their_reports(2);
}

/// Runs the shipped scenarios whose place in `stopbench list` is `part`
/// modulo 3, one trial each, and checks each wrote its report.
fn shipped_scenarios_write_their_reports(part: usize) {
    let list = Command::new(BIN)
        .args(["list", "--names"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    let names: Vec<&str> = text.lines().collect();
    assert!(names.len() >= 8, "{names:?}");
    for name in names.into_iter().skip(part).step_by(3) {
        let (dir, _) = run(name, &["--trials", "1"]);
        let run_dir = dir.path().join("run");
        for file in [
            "report.md",
            "index.html",
            "latency_percentiles.svg",
            "misfire_rate.png",
        ] {
            let path = if run_dir.join("sweep.json").exists()
                && file != "report.md"
                && file != "index.html"
            {
                run_dir
                    .join(
                        std::fs::read_dir(&run_dir)
                            .unwrap()
                            .filter_map(|e| e.ok())
                            .find(|e| e.path().is_dir())
                            .unwrap()
                            .path(),
                    )
                    .join(file)
            } else {
                run_dir.join(file)
            };
            assert!(path.exists(), "{name}: {} missing", path.display());
        }
    }
}
