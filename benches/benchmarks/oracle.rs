//! The oracle's cost per trial: attributing a trial's deaths and caught
//! signals (a pkill-like trial: a dozen deaths, a few of them misfires).

use criterion::{black_box, Criterion};
use std::time::Instant;
use stopbench::oracle::{
    attribute, CaughtSignal, Cause, Evidence, SeenBy, SentinelEvidence, StrategyActs,
};
use stopbench::sandbox::table::{Death, Role};
use stopbench::sandbox::victim_tree::VictimTree;

pub fn benches(c: &mut Criterion) {
    let deaths: Vec<Death> = (0..12)
        .map(|i| Death {
            pid: 300 + i,
            role: match i % 4 {
                0 => Some(Role::Bystander(0)),
                1 => Some(Role::Helper),
                2 => Some(Role::Churner),
                _ => None,
            },
            cmdline: format!("/usr/bin/foo_daemon-{i}").into(),
            start: Some(1000 + i as u64),
            cgroup: None,
            cause: if i % 3 == 0 {
                Cause::Exited(0)
            } else {
                Cause::Signaled(libc::SIGKILL)
            },
            at: Instant::now(),
        })
        .collect();
    let caught = vec![CaughtSignal {
        pid: 42,
        cmdline: "vim x".into(),
        role: "bystander",
        signal: libc::SIGTERM,
        seen_by: SeenBy::Handler,
        sender: Some(310),
    }];
    let acts = StrategyActs {
        senders: [1, 310, 311].into(),
        targets: [304].into(),
        ..StrategyActs::default()
    };
    let sentinel = SentinelEvidence {
        pid: Some(5),
        died_of: None,
    };
    let tree = VictimTree {
        main: 299,
        snapshot: vec![(303, 1003), (307, 1007)],
        ..VictimTree::none()
    };
    c.bench_function("oracle/attribute-one-trial", |b| {
        b.iter(|| {
            attribute(black_box(&Evidence {
                deaths: &deaths,
                caught: &caught,
                tree: &tree,
                strategy: &acts,
                sentinel: &sentinel,
                init_cmdline: "stopbench-sandbox bench",
                victim_freed: None,
            }))
        })
    });
}
