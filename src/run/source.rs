//! Where a run's sandbox messages come from. A live run launches
//! stopbench's own sandbox and, for `systemd` strategies, a sandboxed
//! systemd; a test replays recorded messages through the same run loop, so
//! recording, writing and reporting are tested without building a sandbox.

use super::RunError;
use crate::sandbox::launch::BadMessage;
use crate::sandbox::{Message, RunPlan, SandboxMode, SandboxProcess};
use crate::systemd::error::BootError;
use crate::systemd::SystemdMachine;

/// One sandbox's stream of messages.
pub trait MessageSource {
    /// The helper's PID (our own unreaped child), which an interrupt kills;
    /// 0 when there is no process to end.
    fn pid(&self) -> i32;
    fn next_message(&mut self) -> Option<Result<Message, BadMessage>>;
    /// Waits for the end; the exit status, when there was one.
    fn wait(self: Box<Self>) -> Option<i32>;
}

/// How a run gets its sandboxes.
pub trait Launcher {
    /// stopbench's own sandbox for `plan`.
    fn sandbox(&mut self, plan: &RunPlan) -> Result<Box<dyn MessageSource>, RunError>;
    /// A sandboxed systemd for `plan`'s `systemd` strategies, or why there
    /// is none here (then they are reported unavailable).
    fn systemd(&mut self, plan: RunPlan) -> Result<Box<dyn MessageSource>, SystemdUnavailable>;
}

/// A sandboxed systemd could not be had: its strategies are unavailable.
pub enum SystemdUnavailable {
    /// The container did not come up, with the reason.
    Boot(crate::systemd::error::BootError),
    /// It came up but the sandbox inside could not be launched.
    Launch(RunError),
}

impl MessageSource for SandboxProcess {
    fn pid(&self) -> i32 {
        SandboxProcess::pid(self)
    }
    fn next_message(&mut self) -> Option<Result<Message, BadMessage>> {
        SandboxProcess::next_message(self)
    }
    fn wait(self: Box<Self>) -> Option<i32> {
        SandboxProcess::wait(*self)
    }
}

/// The sandbox inside a systemd machine, which lives as long as it.
struct InMachine {
    sandbox: SandboxProcess,
    /// Dropped after the sandbox ends: its guard tears the container down.
    _machine: SystemdMachine,
}

impl MessageSource for InMachine {
    fn pid(&self) -> i32 {
        self.sandbox.pid()
    }
    fn next_message(&mut self) -> Option<Result<Message, BadMessage>> {
        self.sandbox.next_message()
    }
    fn wait(self: Box<Self>) -> Option<i32> {
        let InMachine { sandbox, _machine } = *self;
        sandbox.wait()
    }
}

/// Real sandboxes: this machine's.
pub struct Live {
    /// Our own binary, re-executed inside the sandbox.
    pub exe: String,
}

/// Where our binary is bind-mounted inside a sandboxed systemd's container.
const INSIDE_EXE: &str = "/usr/local/bin/stopbench";

impl Launcher for Live {
    fn sandbox(&mut self, plan: &RunPlan) -> Result<Box<dyn MessageSource>, RunError> {
        Ok(Box::new(SandboxProcess::launch(plan)?))
    }

    fn systemd(&mut self, plan: RunPlan) -> Result<Box<dyn MessageSource>, SystemdUnavailable> {
        let root = plan.scenario.sandbox.systemd_root;
        let visible = &plan.scenario.sandbox.visible;
        let machine =
            SystemdMachine::boot(&self.exe, root, visible).map_err(SystemdUnavailable::Boot)?;
        let plan = RunPlan {
            mode: SandboxMode::SystemdMachine,
            exe: INSIDE_EXE.into(),
            cgroup: None,
            ..plan
        };
        let sandbox = SandboxProcess::launch_in(&plan, machine.leader)
            .map_err(|e| SystemdUnavailable::Launch(e.into()))?;
        Ok(Box::new(InMachine {
            sandbox,
            _machine: machine,
        }))
    }
}

/// Recorded messages, replayed: one list per sandbox, in launch order (the
/// run launches its own sandbox first, then the systemd one).
pub struct Replay {
    pub sandbox: Vec<Message>,
    /// `None`: no sandboxed systemd here, with this reason.
    pub systemd: Result<Vec<Message>, String>,
}

struct Recorded(std::vec::IntoIter<Message>);

impl MessageSource for Recorded {
    fn pid(&self) -> i32 {
        0
    }
    fn next_message(&mut self) -> Option<Result<Message, BadMessage>> {
        self.0.next().map(Ok)
    }
    fn wait(self: Box<Self>) -> Option<i32> {
        Some(0)
    }
}

impl Launcher for Replay {
    fn sandbox(&mut self, _: &RunPlan) -> Result<Box<dyn MessageSource>, RunError> {
        let messages = std::mem::take(&mut self.sandbox);
        Ok(Box::new(Recorded(messages.into_iter())))
    }

    fn systemd(&mut self, _: RunPlan) -> Result<Box<dyn MessageSource>, SystemdUnavailable> {
        match std::mem::replace(&mut self.systemd, Ok(Vec::new())) {
            Ok(messages) => Ok(Box::new(Recorded(messages.into_iter()))),
            Err(reason) => Err(SystemdUnavailable::Boot(BootError::Unavailable(reason))),
        }
    }
}
