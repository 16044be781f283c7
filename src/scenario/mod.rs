//! Scenario files: the model, its validation, and the built-in set.

pub mod builtin;
pub mod duration;
pub mod load;
pub mod model;
pub mod program;
pub mod signal;
pub mod sweep;

pub use duration::HumanDuration;
pub use load::{load, parse, ScenarioError};
pub use model::*;
pub use signal::StopSignal;
