//! PID churn: short-lived churners and long-lived named bystanders.

pub mod bystander;
pub mod crowd;
pub mod generator;
pub mod light;

pub use generator::ChurnReport;
