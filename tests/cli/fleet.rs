//! Across machines: the Ansible playbook on three local "hosts" and the
//! merge of their bundles; the container image under Podman; the
//! Kubernetes manifests validated offline; merge's refusals.

use crate::helpers::{repo, rows, BIN};
use hdrhistogram::Histogram;
use std::path::Path;
use std::process::Command;

/// Every latency of a strategy in a run directory's trials.csv.
fn latencies(dir: &Path, strategy: &str) -> Vec<u64> {
    rows(&dir.join("trials.csv"))
        .into_iter()
        .filter(|r| r["strategy"] == strategy && !r["latency_us"].is_empty())
        .filter(|r| r["victim_gone_before_stop"] != "true")
        .map(|r| r["latency_us"].parse::<u64>().unwrap())
        .collect()
}

/// The sum of every interval of an .hlog file.
fn hlog_sum(path: &Path) -> Histogram<u64> {
    let log = std::fs::read(path).unwrap();
    let parts = stopbench::report::hlog::read_all(&log).unwrap();
    let mut sum = Histogram::new_from(&parts[0].1);
    for (_, h) in &parts {
        sum.add(h).unwrap();
    }
    sum
}

/// The playbook runs the fixture on three inventory hosts with local
/// connections and separate work directories (one, `planted`, where the
/// victim ignores SIGTERM), fetches their bundles and merges them: the
/// merged trials are the sum, the merged histogram is that of all trials,
/// and the planted host is flagged and leads the report.
/// Runs the playbook on `hosts` (local connections, a work directory each
/// under `base`), merging into `base/merged`; returns what it printed.
fn run_playbook(base: &Path, hosts: &[&str]) -> String {
    let mut inventory = String::from("[stopbench]\n");
    for h in hosts {
        inventory.push_str(&format!(
            "{h} ansible_connection=local stopbench_dir={}\n",
            base.join("hosts").join(h).display()
        ));
    }
    inventory.push_str("\n[all:vars]\nansible_python_interpreter=/usr/bin/python3\n");
    std::fs::write(base.join("inventory.ini"), inventory).unwrap();
    let var = |name: &str, value: &str| ["-e".to_string(), format!("{name}={value}")];
    let out = Command::new("ansible-playbook")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", base.join("ansible-tmp"))
        .arg("-i")
        .arg(base.join("inventory.ini"))
        .arg(repo("deploy/ansible/playbook.yml"))
        .args(var("stopbench_binary", BIN))
        .args(var(
            "stopbench_scenario",
            &repo("tests/fixtures/fleet.toml"),
        ))
        .args(var("stopbench_observe_for", "1s"))
        .args(var(
            "stopbench_fetch_dir",
            &base.join("fetched").display().to_string(),
        ))
        .args(var(
            "stopbench_merged_dir",
            &base.join("merged").display().to_string(),
        ))
        .output()
        .expect("ansible-playbook runs (scripts/setup --tests installs ansible-core)");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for h in hosts {
        assert!(
            base.join("fetched").join(format!("{h}.tar.gz")).is_file(),
            "{h}"
        );
    }
    said
}

/// The playbook runs the fixture on three inventory hosts with local
/// connections and separate work directories (one, `planted`, where the
/// victim ignores SIGTERM), fetches their bundles and merges them: the
/// merged trials are the sum, the merged histogram is that of all trials,
/// and the planted host is flagged and leads the report.
#[test]
fn ansible_runs_three_hosts_and_the_merge_flags_the_planted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let hosts = ["alpha", "planted", "beta"];
    let said = run_playbook(base, &hosts);
    let merged = base.join("merged");
    let host_dirs: Vec<_> = hosts.iter().map(|h| merged.join("hosts").join(h)).collect();
    // The merged trials are the sum of the hosts' trials.
    let merged_rows = rows(&merged.join("trials.csv"));
    let sum: usize = host_dirs
        .iter()
        .map(|d| rows(&d.join("trials.csv")).len())
        .sum();
    assert_eq!(merged_rows.len(), sum);
    assert_eq!(sum, 3 * 2 * 12);
    for h in hosts {
        assert_eq!(
            merged_rows.iter().filter(|r| r["host"] == h).count(),
            24,
            "{h}"
        );
    }
    merged_histograms_are_the_hosts_trials(&merged, &host_dirs);
    // The planted host is flagged, and the report leads with it.
    assert!(said.contains("worst host: planted"), "{said}");
    let report = std::fs::read_to_string(merged.join("report.md")).unwrap();
    let first_note = report.lines().find(|l| l.starts_with("- ")).unwrap_or("");
    assert!(
        first_note.contains("Worst host: **`planted`"),
        "{first_note}\n{report}"
    );
    let hosts_table: Vec<&str> = report
        .lines()
        .skip_while(|l| !l.starts_with("| host |"))
        .skip(2)
        .take(2)
        .collect();
    assert!(
        hosts_table
            .iter()
            .all(|l| l.starts_with("| planted |") && l.contains("median stop")),
        "{hosts_table:?}"
    );
}

/// The merged histogram of each strategy is the histogram of all the
/// hosts' trials, and the tagged union holds each host's under its name.
fn merged_histograms_are_the_hosts_trials(merged: &Path, host_dirs: &[std::path::PathBuf]) {
    for strategy in ["plain-kill", "pidfd"] {
        let mut all = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for d in host_dirs {
            for us in latencies(d, strategy) {
                all.record(us.max(1)).unwrap();
            }
        }
        let merged_hist = hlog_sum(&merged.join(format!("{strategy}.hlog")));
        assert_eq!(merged_hist, all, "{strategy}");
        // The tagged union holds each host's own histogram under its name.
        let log = std::fs::read(merged.join(format!("hosts-{strategy}.hlog"))).unwrap();
        let union = stopbench::report::hlog::read_all(&log).unwrap();
        let tags: Vec<_> = union.iter().filter_map(|(t, _)| t.clone()).collect();
        assert_eq!(tags, ["alpha", "planted", "beta"]);
        assert_eq!(union.iter().map(|(_, h)| h.len()).sum::<u64>(), all.len());
    }
}

/// A host that ran another scenario is refused by name.
#[test]
fn merge_refuses_runs_of_different_scenarios() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, host: &str, args: &[&str]| {
        let out = tmp.path().join(name);
        let status = Command::new(BIN)
            .args([
                "run",
                &repo("tests/fixtures/fleet.toml"),
                "--quiet",
                "--trials",
                "2",
            ])
            .args(["--strategy", "pidfd", "--host", host, "--out"])
            .arg(&out)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
        out
    };
    let a = run("a", "one", &[]);
    let b = run("b", "two", &["--set", "strategy[1].timeout=300ms"]);
    let c = run("c", "one", &[]);
    let merge = |inputs: &[&Path]| {
        Command::new(BIN)
            .arg("merge")
            .args(inputs)
            .arg("--out")
            .arg(tmp.path().join("m"))
            .output()
            .unwrap()
    };
    let differ = merge(&[&a, &b]);
    assert_eq!(differ.status.code(), Some(2));
    let why = String::from_utf8_lossy(&differ.stderr);
    assert!(
        why.contains("differ in scenario") && why.contains("300ms"),
        "{why}"
    );
    let same_host = merge(&[&a, &c]);
    assert_eq!(same_host.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&same_host.stderr).contains("call their host `one`"));
}

/// The image builds from the prepared root with no registry, and a
/// scenario completes inside it under Podman with the privileges the
/// README states (CAP_SYS_ADMIN; not privileged, no host PID namespace).
#[test]
fn the_container_image_runs_a_scenario_under_podman() {
    let tmp = tempfile::tempdir().unwrap();
    let image = format!("localhost/stopbench:test-{}", std::process::id());
    let build = Command::new(repo("scripts/build-image"))
        .env("STOPBENCH_BINARY", BIN)
        .env("STOPBENCH_IMAGE", &image)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let prefix = Command::new(repo("scripts/build-image"))
        .arg("--print-run")
        .output()
        .unwrap();
    let prefix = String::from_utf8_lossy(&prefix.stdout).trim().to_string();
    assert!(prefix.contains("--cap-add=SYS_ADMIN") && !prefix.contains("--privileged"));
    let mut words = prefix.split_whitespace();
    let out = Command::new(words.next().unwrap())
        .args(words)
        .arg("-v")
        .arg(format!("{}:/out", tmp.path().display()))
        .arg(&image)
        .args([
            "run", "default", "--trials", "3", "--quiet", "--host", "podman",
        ])
        .args(["--out", "/out/run", "--bundle", "/out/run.tar.gz"])
        .output()
        .unwrap();
    let _ = Command::new("podman")
        .args(["image", "rm", &image])
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = tmp.path().join("run");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert!(meta["incomplete"].is_null(), "{}", meta["incomplete"]);
    assert_eq!(meta["machine"]["host"], "podman");
    assert_eq!(meta["sandbox"]["mode"], "root");
    let trials = rows(&run.join("trials.csv"));
    assert_eq!(trials.len(), 3 * 4);
    assert!(trials.iter().all(|r| r["outcome"] != "error"), "{trials:?}");
    assert!(tmp.path().join("run.tar.gz").is_file());
}

/// Every manifest validates offline against the Kubernetes schemas, and
/// the validator rejects a wrong key (so the check can fail).
#[test]
fn kubernetes_manifests_validate_offline() {
    let validator = repo(".venv-tests/bin/kubernetes-validate");
    let manifests: Vec<String> = std::fs::read_dir(repo("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    assert_eq!(manifests.len(), 4, "{manifests:?}");
    let out = Command::new(&validator)
        .args(["--strict", "--quiet"])
        .args(&manifests)
        .output()
        .expect("kubernetes-validate (scripts/setup --tests installs it in .venv-tests)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let job = std::fs::read_to_string(repo("deploy/k8s/run-job.yaml")).unwrap();
    assert!(job.contains("completionMode: Indexed") && job.contains("hostPID: false"));
    assert!(job.contains("topologyKey: kubernetes.io/hostname"));
    assert!(job.contains("add: [\"SYS_ADMIN\"]") && job.contains("privileged: false"));
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, job.replace("hostPID: false", "hostPIDs: false")).unwrap();
    let out = Command::new(&validator)
        .arg("--strict")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
