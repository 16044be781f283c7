//! Exporters: one file per output format. Units are chosen only here.

pub mod hgrm;
pub mod run_json;
pub mod summary_csv;
pub mod terminal;
pub mod trials_csv;

use std::time::Duration;

/// Milliseconds with microsecond precision, for CSV and tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// `ms` or empty when there is no value.
pub fn opt_ms(d: Option<Duration>) -> String {
    d.map(ms).unwrap_or_default()
}
