//! PID churn: short-lived churners and long-lived named bystanders.

pub mod bystander;
pub mod generator;
pub mod light;

pub use generator::ChurnReport;
