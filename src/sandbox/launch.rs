//! The host side of the sandbox: start the helper, send it the plan, read
//! its messages. The helper gets `PR_SET_PDEATHSIG`, so if stopbench dies
//! (even by SIGKILL) the helper dies, then PID 1, then the whole namespace.
//! It also starts a session of its own, and so does PID 1 inside: nothing
//! in the sandbox shares a session or process group with the CLI.

use super::wire::{Message, RunPlan};
use crate::victim::env;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot start the sandbox helper `{exe}`: {source}")]
    Spawn {
        exe: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot send the run plan to the sandbox: {0}")]
    Plan(#[source] std::io::Error),
}

pub struct SandboxProcess {
    child: Child,
    lines: BufReader<ChildStdout>,
    /// Set once the helper was waited for; until then, dropping this ends it.
    waited: bool,
}

/// A line from the sandbox that is not a message.
#[derive(Debug, thiserror::Error)]
#[error("bad message from the sandbox: {source}: {line}")]
pub struct BadMessage {
    pub line: String,
    pub source: serde_json::Error,
}

impl SandboxProcess {
    pub fn launch(plan: &RunPlan) -> Result<Self, LaunchError> {
        Self::launch_with(plan, Command::new(&plan.exe))
    }

    /// Launches inside a sandboxed systemd's container: nsenter into its PID
    /// and mount namespaces, running our binary as bind-mounted there.
    pub fn launch_in(plan: &RunPlan, leader: i32) -> Result<Self, LaunchError> {
        let mut command = Command::new("nsenter");
        command.args(["-t", &leader.to_string(), "-m", "-p", "--", &plan.exe]);
        Self::launch_with(plan, command)
    }

    fn launch_with(plan: &RunPlan, mut command: Command) -> Result<Self, LaunchError> {
        command
            .arg0("stopbench-sandbox")
            .arg(&plan.scenario.name.0)
            .env(env::ROLE, "sandbox")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the hook runs in the forked child before exec and makes
        // only async-signal-safe calls (prctl, setsid).
        unsafe {
            command.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
                // A session of its own: a process group is not confined to a
                // PID namespace, so a `kill 0` from inside must find no
                // group that also holds the CLI, its pipeline or a terminal.
                nix::unistd::setsid()?;
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|source| LaunchError::Spawn {
            exe: plan.exe.clone(),
            source,
        })?;
        let text = serde_json::to_vec(plan).expect("plans serialize");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(&text).map_err(LaunchError::Plan)?;
        drop(stdin);
        let lines = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Self {
            child,
            lines,
            waited: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next message; `None` when the sandbox has ended. A line that is
    /// no message is an error, and the next line is read after it.
    pub fn next_message(&mut self) -> Option<Result<Message, BadMessage>> {
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&line).map_err(|source| BadMessage {
                line: line.trim_end().to_string(),
                source,
            })),
        }
    }

    pub fn wait(mut self) -> Option<i32> {
        self.waited = true;
        self.child.wait().ok().and_then(|s| s.code())
    }
}

/// How long a helper asked to end may take before it is killed.
const END_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Drop for SandboxProcess {
    /// A run that stops early (a full disk, an error) ends its sandbox before
    /// it exits: SIGTERM asks the helper to end the namespace and remove the
    /// victims' cgroups, as it does when the host dies; SIGKILL after
    /// `END_LIMIT`.
    fn drop(&mut self) {
        if self.waited {
            return;
        }
        // Our own child, not yet reaped: the number is still its own.
        let _ = crate::sys::kill(self.child.id() as i32, libc::SIGTERM);
        let deadline = std::time::Instant::now() + END_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
