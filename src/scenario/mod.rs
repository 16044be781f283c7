//! Scenario files: their configuration (`config`), loading and validation,
//! and the built-in set.

pub mod builtin;
pub mod config;
pub mod duration;
pub mod load;
pub mod program;
pub mod retry;
pub mod signal;
pub mod sweep;

pub use config::*;
pub use duration::HumanDuration;
pub use load::{load, parse, ScenarioError};
pub use signal::StopSignal;
