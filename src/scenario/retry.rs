//! start-stop-daemon's `--retry` schedule, read as start-stop-daemon reads
//! it (man start-stop-daemon, `--retry`): items separated by `/`, each a
//! signal (`TERM`, `SIGTERM`, `-9`), a timeout in whole seconds, or
//! `forever`; a lone number `n` stands for `SIGNAL/n/KILL/n`. stopbench needs
//! its longest duration, to hold a stop command no longer than its timeout.

/// The longest a schedule can take, in seconds, or why it cannot be used.
pub fn longest_seconds(schedule: &str) -> Result<u64, String> {
    let items: Vec<&str> = schedule.split('/').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(format!("`{schedule}`: an empty item between slashes"));
    }
    if let [only] = items[..] {
        if let Ok(n) = only.parse::<u64>() {
            return Ok(2 * n);
        }
    }
    let mut total = 0u64;
    for item in items {
        if item == "forever" {
            return Err(format!(
                "`{schedule}`: `forever` never ends; a trial needs a bounded schedule"
            ));
        }
        if let Ok(n) = item.parse::<u64>() {
            total += n;
        } else if !is_signal(item) {
            return Err(format!(
                "`{schedule}`: `{item}` is neither a signal nor whole seconds"
            ));
        }
    }
    Ok(total)
}

/// `TERM`, `SIGTERM`, `-TERM`, `-15`: what start-stop-daemon takes for a signal.
fn is_signal(item: &str) -> bool {
    let name = item.strip_prefix('-').unwrap_or(item);
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<u8>().is_ok() || full.parse::<nix::sys::signal::Signal>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::longest_seconds;

    #[test]
    fn schedules_as_start_stop_daemon_reads_them() {
        assert_eq!(longest_seconds("TERM/0/CONT/30/KILL/5"), Ok(35));
        assert_eq!(longest_seconds("0/30/KILL/5"), Ok(35));
        assert_eq!(longest_seconds("5"), Ok(10));
        assert_eq!(longest_seconds("TERM/1/KILL/1"), Ok(2));
        assert_eq!(longest_seconds("-9/1"), Ok(1));
        assert!(longest_seconds("TERM/forever")
            .unwrap_err()
            .contains("never ends"));
        assert!(longest_seconds("TERM/1.5/KILL/1")
            .unwrap_err()
            .contains("`1.5`"));
        assert!(longest_seconds("TERM//KILL").is_err());
    }
}
