//! From sandbox to production: how often a strategy will misfire on a real
//! host, given that host's PID space and churn and the strategy's measured
//! race windows. The derivation is in [`risk`]; [`fleet`] scales one stop
//! to a fleet-year; [`host`] reads a host's churn without touching it.

pub mod assess;
pub mod fleet;
pub mod host;
pub mod pooled;
pub mod risk;
pub mod sandbox;

pub use assess::{assess, estimate_words, probability_words, Assessment};
pub use fleet::{Fleet, Projection};
pub use host::HostChurn;
pub use risk::{per_stop, Estimate, PidSpace, RiskSample, Survival};
