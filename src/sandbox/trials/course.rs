//! The steps every trial takes, whoever starts and stops its victim.
//!
//! A trial runs one skeleton (`TrialRunner::run_trial`): bystanders up, the
//! victim started, the previous trial finalized, the stop, the verdict, the
//! cleanup, the hand-over to the next trial. What differs between
//! stopbench's own sandbox (it starts the victim and a strategy stops it)
//! and a real systemd (systemd starts and stops a unit) is a [`Course`]: how
//! the victim is started, stopped, observed and cleaned up. The outcome is
//! never a course's to decide: it comes from `measure::verdict` over what the
//! course observed, the same function for both.

use super::TrialRunner;
use crate::oracle::Cause;
use crate::sandbox::error::TrialError;
use crate::sandbox::victim_tree::{Member, VictimTree};
use crate::strategy::Exposure;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// How one kind of trial starts, stops and cleans up its victim.
pub(super) trait Course {
    /// Starts the victim (the bystanders are up) and says what its tree is.
    fn start(&mut self, runner: &mut TrialRunner<'_>) -> Result<Launched, TrialError>;

    /// Undoes what a failed start left, before the previous trial is
    /// finalized (its deaths must not fall into that trial's window later).
    fn abandon(&mut self, runner: &TrialRunner<'_>);

    /// Stops the victim and reports what was seen, up to the moment the
    /// stop was over: the main process's end, the tree's, what is left.
    fn stop(&mut self, runner: &TrialRunner<'_>, launched: &Launched) -> Stopped;

    /// Removes what is left of the victim's tree, without a bare number
    /// another process may hold.
    fn clean_up(&mut self, runner: &TrialRunner<'_>, launched: &Launched, leaked: &[Member]);
}

/// The victim as started for one trial.
pub(super) struct Launched {
    pub tree: VictimTree,
    /// The main process's pidfd, opened while it was surely that process.
    pub pidfd: Option<OwnedFd>,
    /// The whole tree was gone before the stop was requested.
    pub gone_before_stop: bool,
}

/// What a course saw of the stop. The verdict reads the first group; the
/// rest goes to the record as it is.
pub(super) struct Stopped {
    pub requested: Instant,
    /// When the strategy (or `systemctl stop`) returned.
    pub completed: Instant,
    pub main_end: Option<(Cause, Instant)>,
    pub tree_gone: Option<Instant>,
    /// Processes of the tree alive once the stop was over.
    pub leaked: Vec<Member>,
    pub final_phase_at: Option<Instant>,
    pub strategy_error: Option<String>,
    pub eperm: bool,

    /// How the main process ended, as the record names it.
    pub victim_end: Option<Cause>,
    pub pid_reused: Option<bool>,
    pub race_window: Option<Duration>,
    pub exposure: Option<Exposure>,
    pub note: Option<String>,
    /// How each program the strategy ran ended (see StopReport::helpers).
    pub helpers: Vec<String>,
    /// systemd's own exit timestamp of the main process, since the request.
    pub systemd_exit: Option<Duration>,
    /// A process given the victim's number after its death (forced reuse),
    /// where the course placed it itself.
    pub reuse_holder: Option<i32>,
    /// CPU time of the stop: init's own stopping work and its helpers'.
    pub cpu: Option<crate::measure::CpuTime>,
}

impl Stopped {
    /// A stop requested and completed at the given moments, nothing else seen yet.
    pub fn between(requested: Instant, completed: Instant) -> Self {
        Self {
            requested,
            completed,
            main_end: None,
            tree_gone: None,
            leaked: Vec::new(),
            final_phase_at: None,
            strategy_error: None,
            eperm: false,
            victim_end: None,
            pid_reused: None,
            race_window: None,
            exposure: None,
            note: None,
            helpers: Vec::new(),
            systemd_exit: None,
            reuse_holder: None,
            cpu: None,
        }
    }
}
