//! Do the hosts agree? Per strategy, each host is set against the others
//! pooled: its trials with a misfire by Fisher's exact test, its stop
//! latencies by Mann–Whitney U. Of the hosts found different, the one
//! farthest from the typical host (the median of the hosts' figures) is
//! flagged and left out of the others, and the search repeats (step-down),
//! so one odd host does not make the normal ones look odd against a pool
//! it skews. p-values are
//! Holm-adjusted over the hosts tested and Bonferroni over the tests made,
//! and a latency difference must also be larger than [`SPREAD`] of the
//! others' median to count: hosts always differ a little.

use crate::measure::significance::{fisher_exact, holm};
use crate::measure::stats::mann_whitney;
use crate::measure::{survival, StrategyStats};
use hdrhistogram::Histogram;

/// A host's median this far (as a share) from the rest's is a real spread.
pub const SPREAD: f64 = 0.5;
const ALPHA: f64 = 0.05;

/// One host's standing on one strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct HostStanding {
    pub host: String,
    pub strategy: String,
    /// Its median over the rest's median.
    pub p50_ratio: Option<f64>,
    /// Why it stands out, if it does.
    pub flag: Option<String>,
}

/// The recorded values of a strategy's death histogram, each as often as
/// it was recorded, and its censored stops ranked above them all (see
/// measure::survival): a host whose stops never finish is the slowest.
fn samples(s: &StrategyStats) -> Vec<u64> {
    let h: &Histogram<u64> = &s.latency_us;
    let finished = h
        .iter_recorded()
        .flat_map(|v| std::iter::repeat_n(v.value_iterated_to(), v.count_at_value() as usize));
    survival::ranked_sample(finished, &s.censored_us)
}

fn median(v: &mut [u64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2] as f64)
}

/// One host's figures on one strategy, as the tests take them.
struct Side<'a> {
    host: &'a str,
    stats: &'a StrategyStats,
    latencies: Vec<u64>,
    /// The median of `latencies`, read once.
    p50: Option<f64>,
}

/// One kind of disagreement: a host's figure (its misfire share, its
/// median stop), how far a figure stands from a centre, the words for it,
/// and the test of one host's trials against the others'.
struct Kind {
    figure: fn(&Side<'_>) -> Option<f64>,
    far: fn(f64, f64) -> f64,
    words: fn(f64, f64) -> String,
    test: fn(&Side<'_>, &[&Side<'_>]) -> Option<f64>,
}

const MISFIRES: Kind = Kind {
    figure: |s| {
        (s.stats.trials > 0).then(|| s.stats.misfired_trials as f64 / s.stats.trials as f64)
    },
    far: |x, centre| (x - centre).abs(),
    words: |x, centre| {
        format!(
            "misfires in {:.1}% of trials against {:.1}% on a typical host",
            x * 100.0,
            centre * 100.0
        )
    },
    test: |me, rest| {
        let (k2, n2) = rest.iter().fold((0, 0), |(k, n), s| {
            (k + s.stats.misfired_trials, n + s.stats.trials)
        });
        (me.stats.trials > 0 && n2 > 0)
            .then(|| fisher_exact(me.stats.misfired_trials, me.stats.trials, k2, n2))
    },
};

const LATENCY: Kind = Kind {
    figure: |s| s.p50,
    // Only a spread beyond the threshold stands out, however certain.
    far: |x, centre| {
        let ratio = x / centre.max(1.0);
        if (ratio - 1.0).abs() > SPREAD {
            ratio.ln().abs()
        } else {
            0.0
        }
    },
    words: |x, centre| format!("median stop {:.2}x a typical host's", x / centre.max(1.0)),
    test: |me, rest| {
        let others: Vec<u64> = rest
            .iter()
            .flat_map(|s| s.latencies.iter().copied())
            .collect();
        mann_whitney(&others, &me.latencies).map(|r| r.0)
    },
};

/// Step-down outlier search for one strategy and one kind: among the hosts
/// not yet flagged, the typical figure is the median of their figures; each
/// is tested against the others not flagged (Holm over them, Bonferroni
/// over the `families` of searches made); the significant host farthest
/// from the typical figure is flagged and left out, and the search repeats.
/// Returns, per host, why it was flagged, if it was.
fn step_down(sides: &[Side<'_>], kind: &Kind, families: usize) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = vec![None; sides.len()];
    let mut flagged = vec![false; sides.len()];
    loop {
        let open: Vec<usize> = (0..sides.len()).filter(|&i| !flagged[i]).collect();
        let mut figures: Vec<f64> = open
            .iter()
            .filter_map(|&i| (kind.figure)(&sides[i]))
            .collect();
        if open.len() < 2 || figures.is_empty() {
            return out;
        }
        figures.sort_by(f64::total_cmp);
        let centre = figures[(figures.len() - 1) / 2];
        let tested: Vec<(usize, f64, f64)> = open
            .iter()
            .filter_map(|&i| {
                let rest: Vec<&Side> = open
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| &sides[j])
                    .collect();
                let p = (kind.test)(&sides[i], &rest)?;
                let x = (kind.figure)(&sides[i])?;
                Some((i, (p * families as f64).min(1.0), x))
            })
            .collect();
        let adjusted = holm(&tested.iter().map(|t| t.1).collect::<Vec<_>>());
        let far = |x: f64| (kind.far)(x, centre);
        let farthest = tested
            .iter()
            .zip(&adjusted)
            .filter(|(t, p)| **p < ALPHA && far(t.2) > 0.0)
            .max_by(|a, b| far(a.0 .2).total_cmp(&far(b.0 .2)));
        let Some((&(i, _, x), &p)) = farthest else {
            return out;
        };
        let p = crate::figures::p_value(p);
        out[i] = Some(format!("{} ({p})", (kind.words)(x, centre)));
        flagged[i] = true;
    }
}

/// Every host's standing on every strategy, for `hosts` (each host's
/// per-strategy figures, as RunResults holds them).
pub fn standings(hosts: &[(String, Vec<StrategyStats>)]) -> Vec<HostStanding> {
    let mut strategies: Vec<&str> = Vec::new();
    for s in hosts.iter().flat_map(|(_, v)| v) {
        if !strategies.contains(&s.strategy.as_str()) {
            strategies.push(&s.strategy);
        }
    }
    let families = strategies.len() * 2;
    let mut out = Vec::new();
    for strategy in strategies {
        let sides: Vec<Side> = hosts
            .iter()
            .filter_map(|(host, v)| {
                let stats = v.iter().find(|s| s.strategy == strategy)?;
                let mut latencies = samples(stats);
                let p50 = median(&mut latencies);
                Some(Side {
                    host,
                    stats,
                    latencies,
                    p50,
                })
            })
            .collect();
        let misfires = step_down(&sides, &MISFIRES, families);
        let latency = step_down(&sides, &LATENCY, families);
        for (i, side) in sides.iter().enumerate() {
            let mut others: Vec<u64> = sides
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, s)| s.latencies.iter().copied())
                .collect();
            // A median among censored stops is no time to take a ratio of.
            let finished = |m: f64| m < survival::CENSORED_RANK as f64;
            let ratio = side
                .p50
                .zip(median(&mut others))
                .filter(|&(x, y)| finished(x) && finished(y))
                .map(|(x, y)| x / y.max(1.0));
            let why: Vec<String> = [&misfires[i], &latency[i]]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            out.push(HostStanding {
                host: side.host.to_string(),
                strategy: strategy.to_string(),
                p50_ratio: ratio,
                flag: (!why.is_empty()).then(|| why.join("; ")),
            });
        }
    }
    out
}

/// The worst of the flagged hosts: the highest misfire share among them,
/// then the slowest median; `None` when the hosts agree.
pub fn worst_host<'a>(
    standings: &'a [HostStanding],
    hosts: &[(String, Vec<StrategyStats>)],
) -> Option<&'a str> {
    let rate = |host: &str| {
        hosts.iter().find(|(h, _)| h == host).map_or(0.0, |(_, s)| {
            s.iter()
                .map(|s| s.misfired_trials as f64 / s.trials.max(1) as f64)
                .fold(0.0, f64::max)
        })
    };
    standings
        .iter()
        .filter(|s| s.flag.is_some())
        .max_by(|a, b| {
            rate(&a.host).total_cmp(&rate(&b.host)).then(
                a.p50_ratio
                    .unwrap_or(1.0)
                    .total_cmp(&b.p50_ratio.unwrap_or(1.0)),
            )
        })
        .map(|s| s.host.as_str())
}
