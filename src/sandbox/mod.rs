//! The sandbox: a PID namespace and mount namespace of stopbench's own, with
//! a private /proc, so strategies that address processes by number or by
//! name see only processes stopbench started (docs/ARCHITECTURE.md, section 5).

pub mod cgroup;
pub mod error;
pub mod init;
pub mod inside;
mod keeper;
pub mod launch;
pub mod namespace;
pub mod procfs;
mod reaper;
pub mod shared_exe;
pub mod spawn;
pub mod table;
pub mod trace;
mod trials;
pub mod victim_tree;
pub mod vm_spawn;
pub mod wire;

pub use launch::SandboxProcess;
pub use wire::{Message, RunPlan, SandboxFacts, SandboxMode};
