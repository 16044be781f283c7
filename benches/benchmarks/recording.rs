//! Host-side cost per trial: recording a TrialRecord into the per-strategy
//! histogram and counters, and rendering the .hgrm at the end of a run.

use criterion::{black_box, Criterion};
use std::time::Duration;
use stopbench::measure::{Outcome, Recorder, TrialRecord};
use stopbench::report::hgrm;

fn record(i: u32) -> TrialRecord {
    let strategy = ["plain-kill", "execstoppost-check", "pkill-f", "pidfd"][(i % 4) as usize];
    TrialRecord {
        victim_pid: 300 + (i % 700) as i32,
        outcome: Outcome::Exited,
        latency: Some(Duration::from_micros(200 + u64::from(i % 5000))),
        strategy_time: Duration::from_micros(250),
        pid_reused: Some(false),
        race_window: Some(Duration::from_micros(1500)),
        ..TrialRecord::new(i, i / 4, strategy, "/usr/bin/foo_daemon")
    }
}

fn recording(c: &mut Criterion) {
    let labels: Vec<String> = ["plain-kill", "execstoppost-check", "pkill-f", "pidfd"]
        .map(String::from)
        .to_vec();
    let records: Vec<TrialRecord> = (0..10_000).map(record).collect();
    c.bench_function("recorder/10k-trials", |b| {
        b.iter(|| {
            let mut recorder = Recorder::new(&labels);
            for r in &records {
                recorder.record(&black_box(r).tally());
            }
            recorder.total_trials()
        })
    });
    let mut recorder = Recorder::new(&labels);
    records.iter().for_each(|r| recorder.record(&r.tally()));
    c.bench_function("hgrm/render", |b| {
        b.iter(|| hgrm::render(black_box(&recorder.strategies[0].latency_us)))
    });
}

pub fn benches(c: &mut Criterion) {
    recording(c);
}
