//! `cargo bench`: criterion groups, one file each under benches/benchmarks/.

use criterion::criterion_main;

mod benchmarks;

criterion_main!(benchmarks::recording::benches);
