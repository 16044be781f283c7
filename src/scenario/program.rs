//! Finding the program a victim runs, as systemd finds an `ExecStart=`
//! program: an absolute path as given, a bare name in systemd's fixed search
//! path. Checked when the scenario is read, so a typo is an error naming the
//! key, never a run of trials that "exited" with status 127.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The search path systemd uses for `Exec*=` programs given without a path
/// (and the `PATH` it gives them).
pub const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why a program cannot be run as systemd would run it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error(
        "`{0}` is a relative path; systemd needs an absolute path or a bare program name \
         (searched in {SYSTEMD_PATH})"
    )]
    Relative(String),
    #[error("`{0}` does not exist or is not executable")]
    NotExecutable(String),
    #[error("program `{0}` was not found in systemd's search path {SYSTEMD_PATH}")]
    NotFound(String),
}

/// The executable `program` names, or why there is none.
pub fn resolve(program: &str) -> Result<PathBuf, ProgramError> {
    if program.contains('/') {
        if !program.starts_with('/') {
            return Err(ProgramError::Relative(program.to_string()));
        }
        let path = Path::new(program);
        return if executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(ProgramError::NotExecutable(program.to_string()))
        };
    }
    SYSTEMD_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| executable(p))
        .ok_or_else(|| ProgramError::NotFound(program.to_string()))
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
        assert!(matches!(
            resolve("no-such-program-here"),
            Err(ProgramError::NotFound(_))
        ));
        assert!(matches!(resolve("bin/sh"), Err(ProgramError::Relative(_))));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("data");
        std::fs::write(&plain, "x").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(matches!(
            resolve(plain),
            Err(ProgramError::NotExecutable(p)) if p == plain
        ));
    }
}
