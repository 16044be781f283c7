//! Scenario files: their configuration (`config`), loading and validation,
//! and the built-in set.

pub mod builtin;
pub mod config;
pub mod duration;
pub mod load;
pub mod overrides;
pub mod program;
pub mod retry;
pub mod signal;
pub mod sweep;

pub use config::*;
pub use duration::HumanDuration;
pub use load::{load, load_with, parse, ScenarioError};
pub use overrides::Override;
pub use signal::StopSignal;
