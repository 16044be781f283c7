//! Turning the deaths and signal reports of one trial into misfires.
//!
//! Two kinds of process send signals in the sandbox: the strategy under test
//! (init itself, or the helper programs it runs) and the victim's tree, which
//! runs a real program that may `kill -1`. Init's own cleanup is marked and
//! never reaches here. So a hit is the strategy's unless the evidence shows
//! the victim sent it: a handler saw a sender that is not the strategy's, or
//! the sentinel caught a broadcast of that very signal and the strategy never
//! addressed the hit process.

use super::{Cause, Misfire, SeenBy};
use crate::sandbox::table::{Death, Role};
use crate::sandbox::victim_tree::VictimTree;
use crate::scenario::signal::signal_name;
use std::collections::HashSet;

/// A signal a process in the sandbox caught (with its sender) or has pending.
#[derive(Debug, Clone)]
pub struct CaughtSignal {
    pub pid: i32,
    pub cmdline: String,
    pub role: &'static str,
    pub signal: i32,
    pub seen_by: SeenBy,
    /// `si_pid` of a caught signal; `None` for a pending one.
    pub sender: Option<i32>,
}

/// What the strategy under test did, as far as the oracle can see it.
#[derive(Debug, Clone, Default)]
pub struct StrategyActs {
    /// Processes that acted for the strategy: init (PID 1, for strategies it
    /// runs itself), its helpers and everything they started.
    pub senders: HashSet<i32>,
    /// Numbers the strategy signalled (`kill(pid, sig)`, not probes).
    pub targets: HashSet<i32>,
    /// The helpers' own children that died of a signal (reaped by a shell,
    /// not by init): `(pid, program, signal)`.
    pub helper_children_killed: Vec<(i32, String, i32)>,
    /// Signals a helper sent to PID 1, the sandbox's init. The kernel drops
    /// them (init has no handler), but they reached a process outside the victim.
    pub init_hits: Vec<i32>,
    /// Every signal the strategy had delivered by number (`kill()`
    /// returned 0): a TERM a bystander had not yet handled when a later
    /// SIGKILL ended it left no other trace.
    pub delivered: Vec<Delivered>,
}

/// One signal delivered by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub target: i32,
    pub signal: i32,
    /// When its `kill()` was entered. A signal that kills the victim at
    /// once (a real program's default TERM) lets the reaper free the number
    /// and a newcomer take it before that `kill()` returns: only the entry
    /// says whose the number was.
    pub entered: Option<std::time::Instant>,
}

/// The sentinel's side of the evidence (see churn::bystander::sentinel_spec);
/// what it caught is among [`Evidence::caught`], with role `sentinel`.
#[derive(Debug, Clone, Default)]
pub struct SentinelEvidence {
    pub pid: Option<i32>,
    /// It died of this signal (SIGKILL can be neither caught nor reported).
    pub died_of: Option<i32>,
}

/// Everything the oracle saw in one trial's window.
pub struct Evidence<'a> {
    pub deaths: &'a [Death],
    pub caught: &'a [CaughtSignal],
    /// The victim's whole tree: a signal that lands in it is intended, not a misfire.
    pub tree: &'a VictimTree,
    pub strategy: &'a StrategyActs,
    pub sentinel: &'a SentinelEvidence,
    /// The command line of PID 1, for a misfire on init.
    pub init_cmdline: &'a str,
    /// When the reaper freed the victim's number, if it did.
    pub victim_freed: Option<std::time::Instant>,
}

/// A signal that reached a process outside the victim's tree.
#[derive(Debug, Clone)]
pub struct Hit {
    pub misfire: Misfire,
    /// Sent by the victim's own tree (a broadcast), not by the strategy.
    pub by_victim: bool,
}

impl Evidence<'_> {
    fn is_strategy_sender(&self, sender: i32) -> bool {
        // 0: sent from outside the sandbox's PID namespace; nothing there
        // signals the sandbox's processes, so it is not the victim's either.
        sender == 0 || sender == 1 || self.strategy.senders.contains(&sender)
    }

    /// The role of a dead process outside the victim's tree, as a hit names
    /// it; `None` for the victim's own tree and for a process of the
    /// strategy's own that init did not start (a `pkill` whose shell died,
    /// hit by the next round's pkill, is the tool, not a neighbour; the
    /// shells, init's children, still count).
    fn outside_role(&self, death: &Death) -> Option<&'static str> {
        match death.role {
            Some(Role::Victim) => None,
            Some(role) => Some(role.name()),
            None if self
                .tree
                .holds(death.pid, death.start, death.cgroup.as_deref()) =>
            {
                None
            }
            None if self.strategy.senders.contains(&death.pid) => None,
            None => Some("other"),
        }
    }

    /// Signals the victim's tree broadcast, as the sentinel saw them.
    fn victim_broadcasts(&self) -> HashSet<i32> {
        let mut signals: HashSet<i32> = self
            .caught
            .iter()
            .filter(|c| c.role == Role::Sentinel.name())
            .filter(|c| c.sender.is_some_and(|s| !self.is_strategy_sender(s)))
            .map(|c| c.signal)
            .collect();
        if let (Some(sig), Some(pid)) = (self.sentinel.died_of, self.sentinel.pid) {
            if !self.strategy.targets.contains(&pid) {
                signals.insert(sig);
            }
        }
        signals
    }
}

/// A signal the oracle saw land outside the victim's tree, before it is
/// known whose it was.
struct Landed {
    pid: i32,
    role: String,
    cmdline: String,
    signal: i32,
    seen_by: SeenBy,
    /// Settled by the evidence itself (a handler saw the sender; init is
    /// hit only by the strategy's helpers); otherwise by the broadcasts.
    by_victim: Option<bool>,
}

impl Evidence<'_> {
    /// Deaths by a signal outside the tree.
    fn landed_deaths(&self) -> Vec<Landed> {
        self.deaths
            .iter()
            .filter_map(|death| {
                let Cause::Signaled(signal) = death.cause else {
                    return None;
                };
                Some(Landed {
                    pid: death.pid,
                    role: self.outside_role(death)?.to_string(),
                    cmdline: death.cmdline.to_string(),
                    signal,
                    seen_by: SeenBy::Death,
                    by_victim: None,
                })
            })
            .collect()
    }

    /// Signals delivered to a process that then died of another one before
    /// its handler ran (pkill's TERM, then its KILL): the kernel discarded
    /// them, but they landed. Seen only in the strategy's own trace.
    fn landed_then_lost(&self) -> Vec<Landed> {
        let delivered = &self.strategy.delivered;
        let mut lost = Vec::new();
        for (index, sent) in delivered.iter().enumerate() {
            let (pid, signal) = (sent.target, sent.signal);
            // Sent while the victim still held the number (alive, or a
            // zombie not yet reaped): the victim's, whoever held the number
            // when the kill() returned.
            let victims = sent
                .entered
                .zip(self.victim_freed)
                .is_some_and(|(entered, freed)| entered < freed);
            if pid == self.tree.main && victims {
                continue;
            }
            let Some(death) = self.deaths.iter().find(|d| d.pid == pid) else {
                continue;
            };
            let Cause::Signaled(fatal) = death.cause else {
                continue;
            };
            // Lost only if the fatal signal came after it; one sent after the
            // fatal one reached a dead process (a zombie accepts any signal).
            let fatal_later = delivered[index + 1..]
                .iter()
                .any(|d| d.target == pid && d.signal == fatal);
            let reported = self
                .caught
                .iter()
                .any(|c| c.pid == pid && c.signal == signal);
            if signal == fatal || !fatal_later || reported {
                continue;
            }
            let Some(role) = self.outside_role(death) else {
                continue;
            };
            lost.push(Landed {
                pid,
                role: role.to_string(),
                cmdline: death.cmdline.to_string(),
                signal,
                seen_by: SeenBy::Trace,
                by_victim: None,
            });
        }
        lost
    }

    /// Everything seen to land outside the tree, in the order it was seen.
    fn landed(&self) -> Vec<Landed> {
        let mut landed = self.landed_deaths();
        landed.extend(
            self.strategy
                .helper_children_killed
                .iter()
                .map(|(pid, program, signal)| Landed {
                    pid: *pid,
                    role: "helper-child".into(),
                    cmdline: program.clone(),
                    signal: *signal,
                    seen_by: SeenBy::Parent,
                    by_victim: None,
                }),
        );
        landed.extend(self.landed_then_lost());
        landed.extend(self.strategy.init_hits.iter().map(|&signal| Landed {
            pid: 1,
            role: "sandbox-init".into(),
            cmdline: self.init_cmdline.to_string(),
            signal,
            seen_by: SeenBy::Trace,
            by_victim: Some(false),
        }));
        landed.extend(self.caught.iter().map(|caught| Landed {
            pid: caught.pid,
            role: caught.role.to_string(),
            cmdline: caught.cmdline.clone(),
            signal: caught.signal,
            seen_by: caught.seen_by,
            by_victim: caught.sender.map(|s| !self.is_strategy_sender(s)),
        }));
        landed
    }
}

/// The hits in `evidence`, in the order they were seen.
pub fn attribute(evidence: &Evidence<'_>) -> Vec<Hit> {
    let broadcasts = evidence.victim_broadcasts();
    evidence
        .landed()
        .into_iter()
        .filter_map(|landed| {
            // A process the strategy addressed was hit by the strategy,
            // whatever else happened; otherwise a broadcast of the same
            // signal explains it.
            let by_victim = landed.by_victim.unwrap_or_else(|| {
                !evidence.strategy.targets.contains(&landed.pid)
                    && broadcasts.contains(&landed.signal)
            });
            // The sentinel is our instrument, not a neighbour of the daemon:
            // a broadcast reaching it is evidence, not a hit to report.
            if by_victim && landed.role == Role::Sentinel.name() {
                return None;
            }
            Some(Hit {
                misfire: Misfire {
                    hit_pid: landed.pid,
                    hit_role: landed.role,
                    hit_cmdline: landed.cmdline,
                    signal: signal_name(landed.signal),
                    seen_by: landed.seen_by,
                },
                by_victim,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn death(pid: i32, role: Option<Role>, cause: Cause, start: Option<u64>) -> Death {
        Death {
            pid,
            role,
            cmdline: format!("p{pid}").into(),
            start,
            cgroup: None,
            cause,
            at: Instant::now(),
        }
    }

    fn snapshot_tree() -> &'static VictimTree {
        static TREE: std::sync::OnceLock<VictimTree> = std::sync::OnceLock::new();
        TREE.get_or_init(|| VictimTree {
            snapshot: vec![(15, 7)],
            ..VictimTree::none()
        })
    }

    fn evidence<'a>(
        deaths: &'a [Death],
        caught: &'a [CaughtSignal],
        strategy: &'a StrategyActs,
        sentinel: &'a SentinelEvidence,
    ) -> Evidence<'a> {
        Evidence {
            deaths,
            caught,
            tree: snapshot_tree(),
            strategy,
            sentinel,
            init_cmdline: "stopbench-sandbox t",
            victim_freed: None,
        }
    }

    fn sent(target: i32, signal: i32, entered: Option<Instant>) -> Delivered {
        Delivered {
            target,
            signal,
            entered,
        }
    }

    /// `(misfires, victim's own)` counted in `hits`.
    fn split(hits: &[Hit]) -> (usize, usize) {
        let victim = hits.iter().filter(|h| h.by_victim).count();
        (hits.len() - victim, victim)
    }

    #[test]
    fn table_of_deaths() {
        let kill = Cause::Signaled(libc::SIGKILL);
        let term = Cause::Signaled(libc::SIGTERM);
        let cases: &[(&str, Death, bool)] = &[
            (
                "bystander killed",
                death(10, Some(Role::Bystander(0)), term, None),
                true,
            ),
            (
                "churner killed",
                death(11, Some(Role::Churner), kill, None),
                true,
            ),
            (
                "reuse holder killed",
                death(12, Some(Role::ReuseHolder), kill, None),
                true,
            ),
            (
                "pkill's own shell killed",
                death(13, Some(Role::Helper), term, None),
                true,
            ),
            (
                "victim killed",
                death(14, Some(Role::Victim), kill, None),
                false,
            ),
            (
                "victim's child killed",
                death(15, None, kill, Some(7)),
                false,
            ),
            (
                "same pid, other process",
                death(15, None, kill, Some(8)),
                true,
            ),
            (
                "bystander exited",
                death(16, Some(Role::Bystander(1)), Cause::Exited(0), None),
                false,
            ),
        ];
        let (acts, sentinel) = (StrategyActs::default(), SentinelEvidence::default());
        for (what, d, want) in cases {
            let deaths = [d.clone()];
            let hits = attribute(&evidence(&deaths, &[], &acts, &sentinel));
            assert_eq!(split(&hits), (usize::from(*want), 0), "{what}");
        }
    }

    #[test]
    fn caught_and_pending_signals_count() {
        let caught = [CaughtSignal {
            pid: 20,
            cmdline: "vim x".into(),
            role: "bystander",
            signal: libc::SIGTERM,
            seen_by: SeenBy::Handler,
            sender: Some(1),
        }];
        let (acts, sentinel) = (StrategyActs::default(), SentinelEvidence::default());
        let got = attribute(&evidence(&[], &caught, &acts, &sentinel));
        assert_eq!(split(&got), (1, 0));
        assert_eq!(got[0].misfire.signal, "SIGTERM");
        assert_eq!(got[0].misfire.seen_by, SeenBy::Handler);
    }

    #[test]
    fn a_victims_broadcast_is_the_victims_not_the_strategys() {
        let usr1 = Cause::Signaled(libc::SIGUSR1);
        let deaths = [
            death(30, Some(Role::Churner), usr1, None),
            death(31, Some(Role::Bystander(0)), usr1, None),
            // Another signal than the broadcast one: still the strategy's.
            death(
                32,
                Some(Role::Churner),
                Cause::Signaled(libc::SIGTERM),
                None,
            ),
        ];
        let caught = [CaughtSignal {
            pid: 33,
            cmdline: "vim x".into(),
            role: "bystander",
            signal: libc::SIGUSR1,
            seen_by: SeenBy::Handler,
            sender: Some(77),
        }];
        let acts = StrategyActs {
            senders: [1, 50].into(),
            ..StrategyActs::default()
        };
        let sentinel = SentinelEvidence {
            pid: Some(5),
            died_of: None,
        };
        let mut sentinel_report = caught[0].clone();
        (sentinel_report.pid, sentinel_report.role) = (5, "sentinel");
        let caught = [caught[0].clone(), sentinel_report.clone()];
        let hits = attribute(&evidence(&deaths, &caught, &acts, &sentinel));
        // The sentinel's own report is evidence, not a hit.
        assert_eq!(split(&hits), (1, 3));
        // The same sentinel report, but sent by a helper of the strategy (a
        // pkill whose pattern matched the sentinel): no broadcast at all.
        sentinel_report.sender = Some(50);
        let caught = [sentinel_report];
        let hits = attribute(&evidence(&deaths, &caught, &acts, &sentinel));
        let (others, on_sentinel): (Vec<Hit>, Vec<Hit>) = hits
            .into_iter()
            .partition(|h| h.misfire.hit_role != "sentinel");
        assert_eq!(split(&others), (3, 0));
        // The sentinel itself, hit by the strategy, is a misfire too.
        assert_eq!(split(&on_sentinel), (1, 0));
    }

    #[test]
    fn a_process_the_strategy_addressed_is_its_misfire_even_during_a_broadcast() {
        let deaths = [death(40, Some(Role::ReuseHolder), Cause::Signaled(9), None)];
        let sentinel = SentinelEvidence {
            pid: Some(5),
            died_of: Some(9),
        };
        let mut acts = StrategyActs::default();
        assert_eq!(
            split(&attribute(&evidence(&deaths, &[], &acts, &sentinel))),
            (0, 1),
            "a SIGKILL broadcast (the sentinel died of it) explains the death"
        );
        acts.targets.insert(40);
        assert_eq!(
            split(&attribute(&evidence(&deaths, &[], &acts, &sentinel))),
            (1, 0)
        );
        // The strategy killed the sentinel itself: no broadcast.
        acts.targets.insert(5);
        let deaths = [death(41, Some(Role::Churner), Cause::Signaled(9), None)];
        assert_eq!(
            split(&attribute(&evidence(&deaths, &[], &acts, &sentinel))),
            (1, 0)
        );
    }

    #[test]
    fn helpers_children_and_init_are_counted() {
        let acts = StrategyActs {
            helper_children_killed: vec![(60, "kill".into(), 9)],
            init_hits: vec![9],
            ..StrategyActs::default()
        };
        let hits = attribute(&evidence(&[], &[], &acts, &SentinelEvidence::default()));
        assert_eq!(split(&hits), (2, 0));
        assert_eq!(hits[0].misfire.hit_role, "helper-child");
        assert_eq!(hits[0].misfire.seen_by, SeenBy::Parent);
        assert_eq!(
            (hits[1].misfire.hit_pid, hits[1].misfire.hit_role.as_str()),
            (1, "sandbox-init")
        );
        assert_eq!(hits[1].misfire.hit_cmdline, "stopbench-sandbox t");
    }

    /// pkill's TERM reached a TERM-catching bystander, whose handler had not
    /// run when pkill's KILL ended it: the TERM is a hit too, from the trace.
    #[test]
    fn a_signal_lost_behind_a_sigkill_is_still_a_hit() {
        let deaths = [death(
            40,
            Some(Role::Bystander(0)),
            Cause::Signaled(libc::SIGKILL),
            None,
        )];
        let strategy = StrategyActs {
            senders: [1, 7].into(),
            targets: [40].into(),
            delivered: vec![sent(40, libc::SIGTERM, None), sent(40, libc::SIGKILL, None)],
            ..Default::default()
        };
        let sentinel = SentinelEvidence::default();
        let hits = attribute(&evidence(&deaths, &[], &strategy, &sentinel));
        let mut seen: Vec<(String, SeenBy)> = hits
            .iter()
            .map(|h| (h.misfire.signal.clone(), h.misfire.seen_by))
            .collect();
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            [
                ("SIGKILL".to_string(), SeenBy::Death),
                ("SIGTERM".to_string(), SeenBy::Trace)
            ]
        );
        // Its handler's report counts it already: no second hit.
        let caught = [CaughtSignal {
            pid: 40,
            cmdline: "b".into(),
            role: "bystander",
            signal: libc::SIGTERM,
            seen_by: SeenBy::Handler,
            sender: Some(7),
        }];
        let hits = attribute(&evidence(&deaths, &caught, &strategy, &sentinel));
        assert_eq!(hits.len(), 2);
    }

    /// A real program's default TERM kills the victim inside kill(): the
    /// reaper frees its number and forced reuse hands it on before kill()
    /// returns. That TERM was the victim's; only the KILL that followed,
    /// on the newcomer, is a hit.
    #[test]
    fn a_signal_sent_before_the_number_was_freed_is_the_victims() {
        let t0 = Instant::now();
        let tree = VictimTree {
            main: 40,
            ..VictimTree::none()
        };
        let deaths = [death(
            40,
            Some(Role::ReuseHolder),
            Cause::Signaled(libc::SIGKILL),
            None,
        )];
        let strategy = StrategyActs {
            senders: [1, 7].into(),
            targets: [40].into(),
            delivered: vec![
                sent(40, libc::SIGTERM, Some(t0)),
                sent(
                    40,
                    libc::SIGKILL,
                    Some(t0 + std::time::Duration::from_millis(5)),
                ),
            ],
            ..Default::default()
        };
        let sentinel = SentinelEvidence::default();
        let mut e = evidence(&deaths, &[], &strategy, &sentinel);
        e.tree = &tree;
        e.victim_freed = Some(t0 + std::time::Duration::from_micros(50));
        let hits = attribute(&e);
        let signals: Vec<&str> = hits.iter().map(|h| h.misfire.signal.as_str()).collect();
        assert_eq!(signals, ["SIGKILL"]);
        // Freed before the TERM was sent: the TERM reached the newcomer.
        e.victim_freed = Some(t0 - std::time::Duration::from_micros(50));
        assert_eq!(attribute(&e).len(), 2);
    }
}
