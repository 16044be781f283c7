//! Finding the program a victim runs, as systemd finds an `ExecStart=`
//! program: an absolute path as given, a bare name in systemd's fixed search
//! path. Checked when the scenario is read, so a typo is an error naming the
//! key, never a run of trials that "exited" with status 127.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The search path systemd uses for `Exec*=` programs given without a path
/// (and the `PATH` it gives them).
pub const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The executable `program` names, or why there is none.
pub fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        if !program.starts_with('/') {
            return Err(format!(
                "`{program}` is a relative path; systemd needs an absolute path or a bare \
                 program name (searched in {SYSTEMD_PATH})"
            ));
        }
        let path = Path::new(program);
        return if executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(format!("`{program}` does not exist or is not executable"))
        };
    }
    SYSTEMD_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| executable(p))
        .ok_or_else(|| {
            format!("program `{program}` was not found in systemd's search path {SYSTEMD_PATH}")
        })
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_as_systemd_does() {
        assert_eq!(resolve("/bin/sh").unwrap(), PathBuf::from("/bin/sh"));
        assert!(resolve("sh").unwrap().ends_with("sh"));
        assert!(resolve("no-such-program-here")
            .unwrap_err()
            .contains("not found"));
        assert!(resolve("bin/sh").unwrap_err().contains("relative path"));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("data");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(resolve(plain.to_str().unwrap())
            .unwrap_err()
            .contains("not executable"));
    }
}
