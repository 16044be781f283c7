//! Progress on the terminal: trials done, ETA, misfires so far. Hidden when
//! stderr is not a terminal or with `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
}

impl Progress {
    pub fn new(total: u64, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
        } else {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} trials  {msg}  eta {eta}")
                    .expect("valid template"),
            );
            bar
        };
        Self { bar, quiet }
    }

    pub fn advance(&self, misfires: u64) {
        self.bar.set_message(format!("misfires {misfires}"));
        self.bar.inc(1);
    }

    pub fn warn(&self, text: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("warning: {text}"));
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
