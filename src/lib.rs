//! stopbench: measure service stop latency and PID-reuse misfires of stop
//! strategies, inside a PID-namespace sandbox (see docs/ARCHITECTURE.md and
//! README.md).

pub mod churn;
pub mod compare;
pub mod figures;
pub mod measure;
pub mod merge;
pub mod model;
pub mod oracle;
pub mod report;
pub mod results;
pub mod role;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod service;
pub mod strategy;
pub mod sys;
pub mod systemd;
pub mod victim;
