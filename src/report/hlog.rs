//! HdrHistogram V2 interval logs (`.hlog`): the latency histogram of each
//! strategy, compressed, in the format HdrHistogram's own log tools
//! (HistogramLogProcessor, the plotter) read. One interval spans the run.

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    #[error("cannot encode the histogram: {0}")]
    Encode(String),
    #[error("no histogram in the log")]
    Empty,
    #[error("cannot decode the log: {0}")]
    Decode(String),
}

/// Encodes `hist` (µs) as a V2 interval log starting at `start_unix` and
/// lasting `length`, tagged with the strategy.
pub fn write(
    hist: &Histogram<u64>,
    strategy: &str,
    start_unix: u64,
    length: Duration,
) -> Result<Vec<u8>, HlogError> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(start_unix);
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "stopbench stop latency of `{strategy}`, values in microseconds"
            ))
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(|e| HlogError::Encode(format!("{e:?}")))?;
        let tag =
            Tag::new(strategy).filter(|_| strategy.chars().all(|c| !c.is_whitespace() && c != ','));
        writer
            .write_histogram(hist, Duration::ZERO, length, tag)
            .map_err(|e| HlogError::Encode(format!("{e:?}")))?;
    }
    Ok(out)
}

/// Decodes the first histogram of a V2 interval log.
pub fn read_first(log: &[u8]) -> Result<Histogram<u64>, HlogError> {
    for entry in IntervalLogIterator::new(log) {
        if let Ok(LogEntry::Interval(interval)) = entry {
            let bytes = base64_decode(interval.encoded_histogram()).map_err(HlogError::Decode)?;
            return Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| HlogError::Decode(format!("{e:?}")));
        }
    }
    Err(HlogError::Empty)
}

/// Standard base64 (the interval log's encoding), without a dependency.
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("bad base64 byte {c}")),
        } as u32)
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let keep = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + keep]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hlog_round_trips() {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in [70u64, 90, 250, 5_300, 2_000_900, 2_004_100] {
            hist.record(us).unwrap();
        }
        let log = write(&hist, "pidfd", 1_795_000_000, Duration::from_secs(30)).unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1795000000"), "{text}");
        assert!(text.contains("Tag=pidfd,"), "{text}");
        let back = read_first(&log).unwrap();
        assert_eq!(back, hist);
        assert_eq!(back.len(), 6);
        assert_eq!(back.max(), hist.max());
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
    }
}
