//! Human durations in scenario files (`"2ms"`, `"1.5s"`, `"200us"`, `"1m"`).
//!
//! Durations stay [`Duration`] everywhere inside stopbench; only the scenario
//! parser and `report/` know about units.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A [`Duration`] written with a unit suffix in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `<number><unit>` with unit one of `ns`, `us`, `ms`, `s`, `m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("`{text}` has no unit: write e.g. \"200ms\" or \"2s\" (units: ns, us, ms, s, m)")
            })?;
        let (number, unit) = text.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` does not start with a number (e.g. \"2s\")"))?;
        let scale = match unit.trim() {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            other => {
                return Err(format!(
                    "`{text}` has unknown unit `{other}` (units: ns, us, ms, s, m)"
                ))
            }
        };
        let secs = value * scale;
        if !secs.is_finite() || secs > 86_400.0 {
            return Err(format!("`{text}` is out of range (at most one day)"));
        }
        Ok(Self(Duration::from_secs_f64(secs)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            write!(f, "0s")
        } else if nanos % 1_000_000_000 == 0 {
            write!(f, "{}s", nanos / 1_000_000_000)
        } else if nanos % 1_000_000 == 0 {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            write!(f, "{}us", nanos / 1_000)
        } else {
            write!(f, "{nanos}ns")
        }
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HumanDuration::parse(&text).map_err(de::Error::custom)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_units() {
        let cases = [
            ("2ms", Duration::from_millis(2), "2ms"),
            ("1.5s", Duration::from_millis(1500), "1500ms"),
            ("200us", Duration::from_micros(200), "200us"),
            ("2s", Duration::from_secs(2), "2s"),
            ("1m", Duration::from_secs(60), "60s"),
            ("0s", Duration::ZERO, "0s"),
        ];
        for (text, want, shown) in cases {
            let got = HumanDuration::parse(text).unwrap();
            assert_eq!(got.0, want, "{text}");
            assert_eq!(got.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        for text in ["2", "ms", "2 parsecs", "2x", "1e9s", "-1s", "99999999s"] {
            assert!(HumanDuration::parse(text).is_err(), "{text} should fail");
        }
    }
}
