//! A corrected unit, backed by measured rows: the what-if row that went
//! wrong least (leaks, misfires, survivors and errors, then its p99) beside
//! the unit as written. Nothing is proposed without a measured row behind
//! it; where the unit as written is already the best measured, it says so.

use super::scenario::AS_WRITTEN;
use crate::report::summary::SummaryRow;
use std::fmt::Write;

/// What went wrong in a row, worst first: misfiring trials, processes
/// left, survivors, errors and refused signals.
fn trouble(r: &SummaryRow) -> (u64, u64, u64, u64) {
    (r.misfired_trials, r.leaks, r.survived, r.errors + r.eperm)
}

fn p99(r: &SummaryRow) -> String {
    match r.p99_ms {
        Some(v) if r.p99_lower_bound => format!("> {v:.1} ms"),
        Some(v) => format!("{v:.1} ms"),
        None => "–".into(),
    }
}

/// One row in words: "left 1 process in 20 of 20 stops, p99 45.0 ms".
fn account(r: &SummaryRow) -> String {
    let mut parts = Vec::new();
    if r.misfired_trials > 0 {
        parts.push(format!(
            "misfired in {} of {} stops",
            r.misfired_trials, r.trials
        ));
    }
    if r.leaks > 0 {
        parts.push(format!(
            "left {} process{} running over {} stops",
            r.leaks,
            if r.leaks == 1 { "" } else { "es" },
            r.trials
        ));
    }
    if r.survived > 0 {
        parts.push(format!("left the daemon alive in {} stops", r.survived));
    }
    if r.errors + r.eperm > 0 {
        parts.push(format!("failed in {} stops", r.errors + r.eperm));
    }
    if parts.is_empty() {
        parts.push(format!("left nothing in {} stops", r.trials));
    }
    format!("{}, p99 {}", parts.join(", "), p99(r))
}

/// The unit's text with the change of what-if `label` applied.
fn changed(text: &str, label: &str) -> Option<String> {
    let set_kill_mode = |mode: &str| {
        let has = text
            .lines()
            .any(|l| l.trim_start().starts_with("KillMode="));
        let mut out = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with("KillMode=") {
                out.push(format!("KillMode={mode}"));
                continue;
            }
            out.push(line.to_string());
            // A unit without the setting gets it first in [Service].
            if !has && line.trim() == "[Service]" {
                out.push(format!("KillMode={mode}"));
            }
        }
        out.join("\n") + "\n"
    };
    match label {
        "killmode-mixed" => Some(set_kill_mode("mixed")),
        "killmode-control-group" => Some(set_kill_mode("control-group")),
        "no-number-lines" => Some(
            text.lines()
                .filter(|l| {
                    let l = l.trim_start();
                    !l.starts_with("ExecStop=") && !l.starts_with("ExecStopPost=")
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n",
        ),
        _ => None,
    }
}

/// A unified diff of `old` to `new` (one hunk with every line, as the
/// files are short), labelled `name`.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // Longest common subsequence, by table: units are a few dozen lines.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut body = String::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(body, " {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as diff prints a change.
            let _ = writeln!(body, "-{}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(body, "+{}", b[j]);
            j += 1;
        }
    }
    format!(
        "--- a/{name}\n+++ b/{name}\n@@ -1,{} +1,{} @@\n{body}",
        a.len(),
        b.len()
    )
}

/// The closing section of a service run: every unit row's account, then
/// the corrected unit as a diff, or why the unit is already the best.
pub fn section(unit_name: &str, unit_text: &str, rows: &[SummaryRow]) -> String {
    let mut out = format!("## Your unit: {unit_name}\n\n");
    let Some(written) = rows.iter().find(|r| r.strategy == AS_WRITTEN) else {
        out.push_str("The unit as written did not run: nothing to compare.\n");
        return out;
    };
    for r in rows {
        let _ = writeln!(out, "- `{}`: {}.", r.strategy, account(r));
    }
    out.push('\n');
    let best = rows
        .iter()
        .filter(|r| changed(unit_text, &r.strategy).is_some() && r.trials > 0)
        .filter(|r| trouble(r) < trouble(written))
        .min_by(|x, y| {
            trouble(x).cmp(&trouble(y)).then(
                x.p99_ms
                    .unwrap_or(f64::MAX)
                    .total_cmp(&y.p99_ms.unwrap_or(f64::MAX)),
            )
        });
    match best {
        None => {
            let _ = writeln!(
                out,
                "The unit as written is already the best measured: no what-if row left fewer \
                 misfires, processes, survivors or errors ({}).",
                account(written)
            );
        }
        Some(r) => {
            let new = changed(unit_text, &r.strategy).expect("filtered above");
            let _ = writeln!(
                out,
                "Proposed, because `{}` {} where the unit as written {}:\n\n```diff\n{}```",
                r.strategy,
                account(r),
                account(written),
                unified_diff(unit_name, unit_text, &new)
            );
        }
    }
    out
}

/// The journal of one stop of each unit row, as a trial's note carries it
/// (`...; journal: line | line`), as `journalctl -u` would print it.
pub fn journals(notes: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for (row, note) in notes {
        let Some((_, lines)) = note.split_once("journal: ") else {
            continue;
        };
        if !seen.insert(row.clone()) {
            continue;
        }
        let _ = writeln!(
            out,
            "\n### `{row}`: one stop in systemd's words\n\n```\n{}\n```",
            lines.split(" | ").collect::<Vec<_>>().join("\n")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/usr/bin/foo_daemon\nKillMode=process\nExecStop=/bin/kill -TERM $MAINPID\n";

    fn row(label: &str, leaks: u64, p99: f64) -> SummaryRow {
        let mut r: SummaryRow = serde_json::from_value(serde_json::json!({
            "scenario": "s", "strategy": label, "trials": 20, "exited": 20, "killed": 0,
            "survived": 0, "errors": 0, "misfires": 0, "misfire_rate": 0.0,
            "misfire_rate_lo95": 0.0, "misfire_rate_hi95": 0.16, "leaks": leaks,
            "p50_ms": 1.0, "p90_ms": 1.0, "p99_ms": p99, "p999_ms": p99, "max_ms": p99,
            "misfired_trials": 0, "pid_reused": 0, "mean_ms": null
        }))
        .unwrap();
        r.p99_ms = Some(p99);
        r
    }

    #[test]
    fn a_what_if_that_left_nothing_becomes_the_diff_it_measured() {
        let rows = [
            row(AS_WRITTEN, 20, 9.0),
            row("killmode-mixed", 0, 12.0),
            row("killmode-control-group", 0, 11.0),
        ];
        let text = section("foo.service", UNIT, &rows);
        assert!(
            text.contains("-KillMode=process\n+KillMode=control-group"),
            "{text}"
        );
        assert!(
            text.contains("left 20 processes running over 20 stops"),
            "{text}"
        );
        assert!(
            text.contains("`killmode-control-group` left nothing in 20 stops"),
            "{text}"
        );
    }

    #[test]
    fn a_unit_without_killmode_gets_it_once() {
        let unit = "[Service]\nExecStart=/usr/bin/foo_daemon\n";
        let rows = [row(AS_WRITTEN, 3, 9.0), row("killmode-mixed", 0, 9.0)];
        let text = section("foo.service", unit, &rows);
        assert_eq!(text.matches("+KillMode=mixed").count(), 1, "{text}");
    }

    #[test]
    fn the_unit_as_written_can_be_the_best() {
        let rows = [row(AS_WRITTEN, 0, 9.0), row("killmode-mixed", 0, 5.0)];
        let text = section("foo.service", UNIT, &rows);
        assert!(text.contains("already the best measured"), "{text}");
        assert!(!text.contains("```diff"), "{text}");
    }

    #[test]
    fn diffs_mark_only_what_changed() {
        let d = unified_diff("u", "a\nb\nc\n", "a\nc\nd\n");
        assert_eq!(d, "--- a/u\n+++ b/u\n@@ -1,3 +1,3 @@\n a\n-b\n c\n+d\n");
    }
}
