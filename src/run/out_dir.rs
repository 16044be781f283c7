//! The default output directory: `reports/<scenario>-<UTC timestamp>/`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn default_out_dir(scenario: &str) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from("reports").join(format!("{scenario}-{}", timestamp(secs)))
}

/// `YYYYMMDD-HHMMSS` in UTC (civil-from-days, so no date crate is needed).
fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::timestamp;

    #[test]
    fn formats_utc() {
        assert_eq!(timestamp(0), "19700101-000000");
        assert_eq!(timestamp(1_795_523_632), "20261124-123352");
        assert_eq!(timestamp(951_782_400), "20000229-000000");
    }
}
