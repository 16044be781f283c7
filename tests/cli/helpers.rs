//! Helpers shared by the integration tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_stopbench");

pub fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// Runs `stopbench run SCENARIO --out DIR --quiet ARGS...` and returns the run directory.
pub fn run(scenario: &str, args: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = Command::new(BIN)
        .args(["run", scenario, "--quiet", "--out"])
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stopbench failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (dir, output)
}

/// Runs a command that must succeed; returns its stdout.
pub fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// summary.csv as `strategy -> column -> value`.
pub fn summary(dir: &Path) -> HashMap<String, HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join("run/summary.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let row: HashMap<String, String> = headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (row["strategy"].clone(), row)
        })
        .collect()
}

pub fn num(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?}", row[column]))
}

pub fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .zip(r.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Host processes whose command line contains `token`.
pub fn host_processes_with(token: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let text = String::from_utf8_lossy(&raw).replace('\0', " ");
            text.contains(token).then(|| format!("{pid}: {text}"))
        })
        .collect()
}

pub fn wait_for_rows(path: &Path, at_least: usize, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        let lines = std::fs::read_to_string(path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{} did not get {at_least} rows within {limit:?}",
        path.display()
    );
}

/// A long-running scenario whose every process carries a unique token.
pub fn long_scenario(dir: &Path, token: &str) -> PathBuf {
    let path = dir.join(format!("{token}.toml"));
    let text = format!(
        "name = \"{token}\"\ntrials = 100000\n[sandbox]\npid_max = 1024\n[churn]\nrate = 1000\nlifetime = \"50ms\"\n\
         bystanders = [\"/usr/bin/{token}-helper\"]\nforced_reuse = true\nreuse_command = \"/usr/sbin/{token}-other\"\n\
         [victim]\ncommand = \"/usr/bin/{token}\"\nbehaviour = \"fork-children\"\n\
         [[strategy]]\nkind = \"plain-kill\"\ntimeout = \"50ms\"\n[[strategy]]\nkind = \"pidfd\"\ntimeout = \"50ms\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

pub fn start(scenario: &Path, out: &Path) -> Child {
    Command::new(BIN)
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn assert_whole_rows(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.ends_with('\n'),
        "a partial last row in {}",
        path.display()
    );
    let mut reader = csv::Reader::from_path(path).unwrap();
    let width = reader.headers().unwrap().len();
    for row in reader.records() {
        assert_eq!(row.unwrap().len(), width);
    }
}

/// A directory anyone may write, holding a copy of the binary that an
/// ordinary user may run (the build directory may not be theirs to enter).
pub fn ordinary_user_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(BIN, dir.path().join("stopbench")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(
        dir.path().join("stopbench"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    dir
}

/// Runs that copy in `dir` as an ordinary user (nobody, when the tests run
/// as root), with `args` and `--out DIR/run`: the sandbox is a user namespace.
pub fn run_as_ordinary_user(dir: &Path, args: &[&str]) -> Output {
    let exe = dir.join("stopbench");
    let mut cmd = if nix::unistd::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .arg("--out")
        .arg(dir.join("run"))
        .current_dir(dir)
        .output()
        .unwrap()
}

/// What a sandboxed systemd of stopbench process `pid` would leave behind.
pub fn container_leftovers(pid: u32) -> Vec<String> {
    let name = format!("stopbench-sd-{pid}");
    let mut left = host_processes_with(&name);
    for dir in [
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup",
    ] {
        let path = Path::new(dir).join(&name);
        if path.exists() {
            left.push(path.display().to_string());
        }
    }
    let propagate = Path::new("/run/systemd/nspawn/propagate").join(&name);
    if propagate.exists() {
        left.push(propagate.display().to_string());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    left.extend(
        mounts
            .lines()
            .filter(|l| l.contains(&name))
            .map(String::from),
    );
    left
}
