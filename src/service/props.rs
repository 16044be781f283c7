//! A unit's settings as systemd itself parsed them, read over D-Bus with
//! `busctl --json=short get-property`: `systemctl show` joins `ExecStart=`'s
//! argv with spaces and loses its quoting (nginx's
//! `-g 'daemon on; master_process on;'`), busctl gives the argv array and
//! raw microseconds.

use serde_json::Value;
use std::time::Duration;

/// The properties stopbench reads, in the order `busctl` is asked for them.
pub const PROPERTIES: [&str; 11] = [
    "Type",
    "PIDFile",
    "KillMode",
    "TimeoutStopUSec",
    "ExecStart",
    "ExecStop",
    "ExecStopPost",
    "User",
    "KillSignal",
    "FinalKillSignal",
    "SendSIGKILL",
];

/// One `Exec*=` line as systemd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    /// The program systemd executes (resolved).
    pub path: String,
    pub argv: Vec<String>,
    /// The `-` prefix: a failure is ignored.
    pub ignore_failure: bool,
}

/// What a stop depends on, from systemd's parse of the unit and its drop-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitProps {
    pub service_type: String,
    pub pid_file: Option<String>,
    pub kill_mode: String,
    pub timeout_stop: Duration,
    pub exec_start: Vec<ExecCommand>,
    pub exec_stop: Vec<ExecCommand>,
    pub exec_stop_post: Vec<ExecCommand>,
    pub user: Option<String>,
    pub kill_signal: i32,
    pub final_kill_signal: i32,
    pub send_sigkill: bool,
}

/// Why busctl's answer could not be read.
#[derive(Debug, thiserror::Error)]
#[error("systemd's answer for `{property}` could not be read: {why}")]
pub struct PropsError {
    pub property: String,
    pub why: String,
}

/// The D-Bus object path of unit `name`: every byte but ASCII letters and
/// digits as `_xx` (lowercase hex), as systemd escapes it.
pub fn object_path(name: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

fn exec_list(v: &Value, property: &str) -> Result<Vec<ExecCommand>, PropsError> {
    let bad = |why: &str| PropsError {
        property: property.into(),
        why: why.into(),
    };
    let items = v["data"].as_array().ok_or_else(|| bad("no array"))?;
    items
        .iter()
        .map(|item| {
            let path = item[0].as_str().ok_or_else(|| bad("no path"))?;
            let argv = item[1]
                .as_array()
                .ok_or_else(|| bad("no argv"))?
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(String::from)
                        .ok_or_else(|| bad("argv not text"))
                })
                .collect::<Result<_, _>>()?;
            Ok(ExecCommand {
                path: path.to_string(),
                argv,
                ignore_failure: item[2].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// Reads `busctl --json=short get-property ... PROPERTIES` output: one JSON
/// value per line, in [`PROPERTIES`] order.
pub fn parse(text: &str) -> Result<UnitProps, PropsError> {
    let values: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| PropsError {
            property: "(all)".into(),
            why: e.to_string(),
        })?;
    if values.len() != PROPERTIES.len() {
        return Err(PropsError {
            property: "(all)".into(),
            why: format!(
                "{} values for {} properties",
                values.len(),
                PROPERTIES.len()
            ),
        });
    }
    let get = |name: &str| &values[PROPERTIES.iter().position(|p| *p == name).expect("known")];
    let text = |name: &str| get(name)["data"].as_str().unwrap_or("").to_string();
    let some = |s: String| (!s.is_empty()).then_some(s);
    let int = |name: &str| get(name)["data"].as_i64().unwrap_or(0);
    Ok(UnitProps {
        service_type: text("Type"),
        pid_file: some(text("PIDFile")),
        kill_mode: text("KillMode"),
        timeout_stop: Duration::from_micros(get("TimeoutStopUSec")["data"].as_u64().unwrap_or(0)),
        exec_start: exec_list(get("ExecStart"), "ExecStart")?,
        exec_stop: exec_list(get("ExecStop"), "ExecStop")?,
        exec_stop_post: exec_list(get("ExecStopPost"), "ExecStopPost")?,
        user: some(text("User")),
        kill_signal: int("KillSignal") as i32,
        final_kill_signal: int("FinalKillSignal") as i32,
        send_sigkill: get("SendSIGKILL")["data"].as_bool().unwrap_or(true),
    })
}

impl UnitProps {
    /// Whether an `ExecStop=`/`ExecStopPost=` line addresses the daemon by
    /// number: `$MAINPID`, a pidfile, or a kill by number or name.
    pub fn number_lines(&self) -> Vec<String> {
        self.exec_stop
            .iter()
            .chain(&self.exec_stop_post)
            .map(|c| c.argv.join(" "))
            .filter(|line| {
                ["MAINPID", "pidfile", ".pid", "kill", "start-stop-daemon"]
                    .iter()
                    .any(|w| line.contains(w))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_escape_as_systemd_does() {
        assert_eq!(
            object_path("nginx.service"),
            "/org/freedesktop/systemd1/unit/nginx_2eservice"
        );
        assert_eq!(
            object_path("foo-daemon.service"),
            "/org/freedesktop/systemd1/unit/foo_2ddaemon_2eservice"
        );
    }

    #[test]
    fn reads_busctl_json_with_the_argv_intact() {
        let text = r#"{"type":"s","data":"forking"}
{"type":"s","data":"/run/nginx.pid"}
{"type":"s","data":"mixed"}
{"type":"t","data":5000000}
{"type":"a(sasbttttuii)","data":[["/usr/sbin/nginx",["/usr/sbin/nginx","-g","daemon on; master_process on;"],false,0,0,0,0,0,0,0]]}
{"type":"a(sasbttttuii)","data":[["/sbin/start-stop-daemon",["/sbin/start-stop-daemon","--quiet","--stop","--retry","QUIT/5","--pidfile","/run/nginx.pid"],true,0,0,0,0,0,0,0]]}
{"type":"a(sasbttttuii)","data":[]}
{"type":"s","data":""}
{"type":"i","data":15}
{"type":"i","data":9}
{"type":"b","data":true}
"#;
        let p = parse(text).unwrap();
        assert_eq!(p.service_type, "forking");
        assert_eq!(p.pid_file.as_deref(), Some("/run/nginx.pid"));
        assert_eq!(p.kill_mode, "mixed");
        assert_eq!(p.timeout_stop, Duration::from_secs(5));
        assert_eq!(
            p.exec_start[0].argv,
            ["/usr/sbin/nginx", "-g", "daemon on; master_process on;"]
        );
        assert!(p.exec_stop[0].ignore_failure);
        assert!(p.exec_stop_post.is_empty());
        assert_eq!(p.user, None);
        assert_eq!((p.kill_signal, p.final_kill_signal), (15, 9));
        assert_eq!(p.number_lines().len(), 1);
        assert!(parse("{}\n").is_err());
    }
}
