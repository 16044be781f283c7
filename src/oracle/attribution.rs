//! Turning the deaths and signal reports of one trial into misfires.

use super::{Cause, Misfire, SeenBy};
use crate::sandbox::table::{Death, Role};
use crate::scenario::signal::signal_name;

/// A signal a bystander caught or has pending.
#[derive(Debug, Clone)]
pub struct CaughtSignal {
    pub pid: i32,
    pub cmdline: String,
    pub role: &'static str,
    pub signal: i32,
    pub seen_by: SeenBy,
}

/// Everything the oracle saw in one trial's window.
pub struct Evidence<'a> {
    pub deaths: &'a [Death],
    pub caught: &'a [CaughtSignal],
    /// `(pid, start)` of the victim's descendants when the stop began: a
    /// signal the strategy sends them is intended, not a misfire.
    pub descendants: &'a [(i32, u64)],
}

/// The misfires in `evidence`, in the order they were seen.
pub fn attribute(evidence: &Evidence<'_>) -> Vec<Misfire> {
    let mut misfires = Vec::new();
    for death in evidence.deaths {
        let Cause::Signaled(sig) = death.cause else {
            continue;
        };
        let role = match death.role {
            Some(Role::Victim) => continue,
            Some(role) => role.name(),
            None => {
                let is_descendant = evidence
                    .descendants
                    .iter()
                    .any(|&(pid, start)| pid == death.pid && Some(start) == death.start);
                if is_descendant {
                    continue;
                }
                "other"
            }
        };
        misfires.push(Misfire {
            hit_pid: death.pid,
            hit_role: role.to_string(),
            hit_cmdline: death.cmdline.to_string(),
            signal: signal_name(sig),
            seen_by: SeenBy::Death,
        });
    }
    for caught in evidence.caught {
        misfires.push(Misfire {
            hit_pid: caught.pid,
            hit_role: caught.role.to_string(),
            hit_cmdline: caught.cmdline.clone(),
            signal: signal_name(caught.signal),
            seen_by: caught.seen_by,
        });
    }
    misfires
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
            cause,
            at: Instant::now(),
        }
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
        for (what, d, want) in cases {
            let deaths = [d.clone()];
            let evidence = Evidence {
                deaths: &deaths,
                caught: &[],
                descendants: &[(15, 7)],
            };
            assert_eq!(!attribute(&evidence).is_empty(), *want, "{what}");
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
        }];
        let evidence = Evidence {
            deaths: &[],
            caught: &caught,
            descendants: &[],
        };
        let got = attribute(&evidence);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].signal, "SIGTERM");
        assert_eq!(got[0].seen_by, SeenBy::Handler);
    }
}
