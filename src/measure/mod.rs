//! Measurements: trial records, per-strategy recording, statistics.

pub mod cpu;
pub mod recorder;
pub mod significance;
pub mod stats;
pub mod survival;
pub mod trial_record;
pub mod verdict;

pub use cpu::{CpuSums, CpuTime};
pub use recorder::{Recorder, StrategyStats, TrialTally};
pub use survival::Tail;
pub use trial_record::{Outcome, TrialRecord};
