//! The host's handle on a sandboxed systemd: boots it through a guard
//! process and lets it go when dropped (the guard then tears it down).

use super::error::BootError;
use super::guard;
use crate::victim::env;
use std::io::BufReader;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SystemdMachine {
    /// PID of the container's systemd, in the host's PID namespace.
    pub leader: i32,
    pub name: String,
    guard: Child,
    /// Closing it tells the guard to tear the container down.
    keepalive: Option<ChildStdin>,
}

impl SystemdMachine {
    /// Boots a container from the prepared `root`; `exe` (our own binary) is
    /// bind-mounted at /usr/local/bin/stopbench inside it, and the host
    /// paths `visible` are shown (see `SandboxConfig::visible`).
    pub fn boot(
        exe: &str,
        root: crate::scenario::SystemdRoot,
        visible: &[std::path::PathBuf],
    ) -> Result<Self, BootError> {
        if let Some(reason) = super::unavailable_reason(root) {
            return Err(BootError::Unavailable(reason));
        }
        let name = format!("stopbench-sd-{}", std::process::id());
        let mut guard = Command::new(exe)
            .env(env::ROLE, "systemd-guard")
            .env(guard::ROOT, super::root_dir(root))
            .env(guard::NAME, &name)
            .env(guard::EXE, exe)
            .env(
                guard::VISIBLE,
                visible
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(BootError::Guard)?;
        let keepalive = guard.stdin.take();
        let mut out = BufReader::new(guard.stdout.take().expect("piped stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(guard::read_leader(&mut out));
        });
        let leader = rx
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or(Err(BootError::Timeout));
        let mut machine = Self {
            leader: 0,
            name,
            guard,
            keepalive,
        };
        // On error, dropping `machine` makes the guard clean up.
        machine.leader = leader?;
        Ok(machine)
    }

    /// `nsenter` into the container, all namespaces.
    pub fn nsenter(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.leader.to_string(), "-a", "--"]);
        c
    }

    /// A path inside the container, as the host can reach it.
    pub fn path(&self, inside: &str) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/proc/{}/root{inside}", self.leader))
    }
}

impl Drop for SystemdMachine {
    fn drop(&mut self) {
        drop(self.keepalive.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.guard.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.guard.kill();
        let _ = self.guard.wait();
    }
}
