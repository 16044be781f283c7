//! The report's Scenario section: what was stopped, under which churn, by
//! which strategies, in words, with the scenario file as run.

use super::document::{code, text, Block};
use crate::figures::{duration, thousands};
use crate::results::RunResults;
use crate::scenario::{Behaviour, BystanderBehaviour, Rate, Scenario, StrategyConfig};

fn behaviour_words(s: &Scenario) -> String {
    let v = &s.victim;
    let words = what_it_does(v);
    if v.random_pid {
        format!("{words}; it starts under a random free PID number, as a long-running daemon's number bears no relation to the PID allocator's position")
    } else {
        words
    }
}

fn what_it_does(v: &crate::scenario::VictimConfig) -> String {
    match v.behaviour {
        Behaviour::ExitOnTerm if v.cleanup.0.is_zero() => {
            "handles SIGTERM and exits at once".into()
        }
        Behaviour::ExitOnTerm => format!(
            "handles SIGTERM and exits after a {} clean-up",
            duration(v.cleanup.0)
        ),
        Behaviour::IgnoreTerm => {
            "ignores SIGTERM (the seed's `trap \"echo Ignoring TERM\" TERM` daemon)".into()
        }
        Behaviour::Stopped => {
            "is SIGSTOPped before the stop (`kill -STOP`), so SIGTERM stays pending".into()
        }
        Behaviour::ForkChildren => format!(
            "forked {} children that ignore SIGTERM, and handles SIGTERM itself",
            v.children.0
        ),
        Behaviour::ExitEarly if v.exit_after.min == v.exit_after.max => format!(
            "crashes on its own {} after start, leaving its PID stale",
            duration(v.exit_after.min.0)
        ),
        Behaviour::ExitEarly => format!(
            "crashes on its own {} to {} after start (uniform), leaving its PID stale",
            duration(v.exit_after.min.0),
            duration(v.exit_after.max.0)
        ),
        Behaviour::Exec => "is a real program run as given".into(),
        Behaviour::Hang => format!(
            "serves (sending WATCHDOG=1 under a watchdog) for {}, then hangs: no pings, signals at their defaults",
            duration(v.exit_after.min.0)
        ),
    }
}

fn churn_words(s: &Scenario) -> String {
    let c = &s.churn;
    let rate = match (&c.replay, c.rate.one()) {
        (Some(host), _) => format!(
            "a host's recorded churn replayed ({:.0} forks/s on average, {})",
            host.fork_rate(),
            host.source
        ),
        (None, Rate::Off) => "no churn".to_string(),
        (None, Rate::PerSecond(r)) => format!("{r} short-lived processes per second"),
        (None, Rate::Max) => {
            "short-lived processes as fast as the generator can spawn them".to_string()
        }
    };
    let life = if c.lifetime.min == c.lifetime.max {
        duration(c.lifetime.min.0)
    } else {
        format!(
            "{}–{}",
            duration(c.lifetime.min.0),
            duration(c.lifetime.max.0)
        )
    };
    let pid_max = s
        .sandbox
        .pid_max
        .as_ref()
        .map_or("the namespace default pid_max".to_string(), |p| {
            format!("pid_max {}", p.one().0)
        });
    let reuse = if c.forced_reuse {
        "; the victim's PID number is handed to another process the moment the victim is reaped (forced reuse)"
    } else {
        ""
    };
    let rate = if matches!((&c.replay, c.rate.one()), (None, Rate::Off)) {
        rate
    } else {
        format!("{rate} (each living {life})")
    };
    format!("{rate}, in a PID namespace with {pid_max}{reuse}")
}

fn strategy_words(c: &StrategyConfig) -> String {
    format!(
        "{} — {}; timeout {}, first signal {}, final signal {}",
        c.label(),
        c.kind.summary(),
        duration(c.timeout.0),
        c.kill_signal,
        c.final_signal
    )
}

pub fn scenario_section(results: &RunResults, blocks: &mut Vec<Block>) {
    let s = &results.meta.scenario;
    blocks.push(Block::Heading(2, "Scenario".into()));
    let mut items = vec![
        vec![
            text("Victim "),
            code(s.victim.command.joined()),
            text(format!(", which {}.", behaviour_words(s))),
        ],
        vec![text(format!("Churn: {}.", churn_words(s)))],
    ];
    if !s.churn.bystanders.is_empty() {
        let mut line = vec![text("Bystanders: ")];
        for (i, b) in s.churn.bystanders.iter().enumerate() {
            if i > 0 {
                line.push(text(", "));
            }
            line.push(code(b.command.joined()));
            match b.behaviour {
                BystanderBehaviour::IgnoreTerm => line.push(text(" (catches SIGTERM)")),
                BystanderBehaviour::Stopped => line.push(text(" (SIGSTOPped)")),
                BystanderBehaviour::Plain => {}
            }
        }
        line.push(text("."));
        items.push(line);
    }
    items.push(vec![text(format!(
        "{} trials per strategy, seed {}.",
        thousands(s.trials.0 as u64),
        s.seed
    ))]);
    for c in &s.strategies {
        items.push(vec![text("Strategy "), text(strategy_words(c)), text(".")]);
    }
    blocks.push(Block::List(items));
    blocks.push(Block::Paragraph(vec![text("As run (scenario.toml):")]));
    blocks.push(Block::Code {
        lang: "toml",
        text: results.scenario_toml.trim_end().to_string(),
    });
}
