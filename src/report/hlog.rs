//! HdrHistogram V2 interval logs (`.hlog`): the latency histogram of each
//! strategy, compressed, in the format HdrHistogram's own log tools
//! (HistogramLogProcessor, the plotter) read: one interval per round of the
//! run, so drift over a long run shows, or one per host in a merged run's
//! tagged union.

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

/// One interval of a log: where it starts after the log's start, how long
/// it lasts, its histogram (µs) and its tag.
pub struct Interval<'h> {
    pub offset: Duration,
    pub length: Duration,
    pub hist: &'h Histogram<u64>,
    pub tag: String,
}

/// Encodes `hist` (µs) as a V2 interval log starting at `start_unix` and
/// lasting `length`, tagged with the strategy.
pub fn write(
    hist: &Histogram<u64>,
    strategy: &str,
    start_unix: u64,
    length: Duration,
) -> Result<Vec<u8>, HlogError> {
    let interval = Interval {
        offset: Duration::ZERO,
        length,
        hist,
        tag: strategy.to_string(),
    };
    write_intervals(
        &[interval],
        &format!("stopbench stop latency of `{strategy}`, values in microseconds"),
        start_unix,
    )
}

/// Encodes `intervals` as one V2 interval log starting at `start_unix`,
/// with `comment` at its head. A tag that HdrHistogram's format cannot hold
/// (whitespace, a comma) is left off.
pub fn write_intervals(
    intervals: &[Interval<'_>],
    comment: &str,
    start_unix: u64,
) -> Result<Vec<u8>, HlogError> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(start_unix);
    {
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(|e| HlogError::Encode(format!("{e:?}")))?;
        for i in intervals {
            let tag =
                Tag::new(&i.tag).filter(|_| i.tag.chars().all(|c| !c.is_whitespace() && c != ','));
            writer
                .write_histogram(i.hist, i.offset, i.length, tag)
                .map_err(|e| HlogError::Encode(format!("{e:?}")))?;
        }
    }
    Ok(out)
}

/// A histogram of a log and its tag, if it has one.
pub type Tagged = (Option<String>, Histogram<u64>);

/// Every histogram of a V2 interval log, with its tag.
pub fn read_all(log: &[u8]) -> Result<Vec<Tagged>, HlogError> {
    let mut all = Vec::new();
    for entry in IntervalLogIterator::new(log) {
        if let Ok(LogEntry::Interval(interval)) = entry {
            let bytes = base64_decode(interval.encoded_histogram()).map_err(HlogError::Decode)?;
            let hist = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| HlogError::Decode(format!("{e:?}")))?;
            all.push((interval.tag().map(|t| t.as_str().to_string()), hist));
        }
    }
    if all.is_empty() {
        return Err(HlogError::Empty);
    }
    Ok(all)
}

/// Most intervals in one log: beyond this many rounds, neighbouring rounds
/// share an interval, so a million-trial run's log stays small.
pub const MAX_INTERVALS: usize = 500;

/// A strategy's death latencies as one interval per round (rounds grouped
/// evenly beyond [`MAX_INTERVALS`]), each from the end of the one before to
/// its last trial's arrival. Trials without an arrival time (runs written
/// before it was recorded) make one interval of `length`.
pub fn per_round(
    trials: &[crate::results::TimedTrial],
    template: &Histogram<u64>,
    length: Duration,
) -> Vec<(Duration, Duration, Histogram<u64>)> {
    let timed = !trials.is_empty() && trials.iter().all(|t| t.at_ms.is_some());
    let rounds = trials.iter().map(|t| t.round).max().map_or(0, |r| r + 1) as usize;
    if !timed || rounds == 0 {
        let mut hist = Histogram::new_from(template);
        for us in trials.iter().filter_map(|t| t.latency_us) {
            let _ = hist.record(us.clamp(1, hist.high()));
        }
        return vec![(Duration::ZERO, length, hist)];
    }
    let group = rounds.div_ceil(MAX_INTERVALS);
    let count = rounds.div_ceil(group);
    let mut out: Vec<(f64, Histogram<u64>)> = (0..count)
        .map(|_| (0.0, Histogram::new_from(template)))
        .collect();
    for t in trials {
        let (end, hist) = &mut out[t.round as usize / group];
        *end = end.max(t.at_ms.unwrap_or(0.0));
        if let Some(us) = t.latency_us {
            let _ = hist.record(us.clamp(1, hist.high()));
        }
    }
    let mut start = 0.0;
    out.into_iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(end, hist)| {
            let from = Duration::from_secs_f64(start / 1000.0);
            let to = Duration::from_secs_f64(end.max(start) / 1000.0);
            start = end.max(start);
            (from, to - from, hist)
        })
        .collect()
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
    fn one_interval_per_round_adds_up_to_the_run() {
        use crate::results::TimedTrial;
        let template = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        let trials: Vec<TimedTrial> = (0..12)
            .map(|i| TimedTrial {
                round: i / 2,
                at_ms: Some(10.0 * f64::from(i + 1)),
                latency_us: (i != 5).then_some(100 + u64::from(i)),
            })
            .collect();
        let rounds = per_round(&trials, &template, Duration::from_secs(1));
        assert_eq!(rounds.len(), 6);
        assert_eq!(rounds.iter().map(|r| r.2.len()).sum::<u64>(), 11);
        assert!(rounds.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
        let tagged: Vec<Interval> = rounds
            .iter()
            .map(|(offset, length, hist)| Interval {
                offset: *offset,
                length: *length,
                hist,
                tag: "pidfd".into(),
            })
            .collect();
        let log = write_intervals(&tagged, "test", 1_795_000_000).unwrap();
        let back = read_all(&log).unwrap();
        assert_eq!(back.len(), 6);
        assert!(back.iter().all(|(tag, _)| tag.as_deref() == Some("pidfd")));
        // Many rounds share intervals beyond the cap.
        let many: Vec<TimedTrial> = (0..2_000)
            .map(|i| TimedTrial {
                round: i,
                at_ms: Some(f64::from(i)),
                latency_us: Some(50),
            })
            .collect();
        assert!(per_round(&many, &template, Duration::from_secs(1)).len() <= MAX_INTERVALS);
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==").unwrap(), b"M");
    }
}
