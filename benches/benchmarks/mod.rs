pub mod churn;
pub mod oracle;
pub mod recording;
pub mod reuse;
pub mod stop;
