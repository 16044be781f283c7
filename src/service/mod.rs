//! `stopbench service UNIT_FILE`: a team's own unit and daemon, measured.
//!
//! systemd reads the unit, not a parser of ours: the unit and its drop-ins
//! (`UNIT.d/*.conf`) are loaded into a sandboxed systemd, and its parsed
//! settings come back over D-Bus (props.rs). From them stopbench writes a
//! scenario (scenario.rs): the unit as written, run verbatim by the real
//! systemd with the host's daemon shown in its container; what-if rows
//! (another `KillMode=`, no `ExecStop=` line that addresses a number); and
//! the emulations that run the same daemon in stopbench's own sandbox. The
//! measured rows then back a corrected unit (advice.rs), or say the unit is
//! already the best measured.

pub mod advice;
pub mod props;
pub mod scenario;

use crate::systemd::machine::SystemdMachine;
use std::path::{Path, PathBuf};

/// Why a unit cannot be measured.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot read the unit `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("`{0}` is not a service unit: its name must end in `.service`")]
    NotAService(String),
    #[error("the sandboxed systemd that reads the unit could not start: {0}")]
    Boot(String),
    #[error("systemd could not load `{unit}`: {said}")]
    Load { unit: String, said: String },
    #[error(transparent)]
    Props(#[from] props::PropsError),
    #[error("`{unit}` has no ExecStart=: there is no daemon to stop")]
    NoExecStart { unit: String },
    #[error(
        "`{unit}` runs `{program}`, which does not exist on this machine (or is not \
         executable): install the daemon first, or name its real path"
    )]
    MissingProgram { unit: String, program: String },
    #[error("`--bind {0}`: no such file or directory on this machine")]
    MissingBind(String),
    #[error(
        "`--what-if {0}`: not a what-if; use mixed, control-group, no-number-lines, emulations"
    )]
    UnknownWhatIf(String),
}

/// A unit file and its drop-ins, as written.
#[derive(Debug, Clone)]
pub struct UnitFiles {
    /// The unit's name (`nginx.service`).
    pub name: String,
    pub text: String,
    /// `(file name, text)` of `NAME.d/*.conf` beside it, in name order.
    pub dropins: Vec<(String, String)>,
    pub path: PathBuf,
}

/// Reads the unit at `path` and the drop-ins in `path.d/`.
pub fn read_unit(path: &Path) -> Result<UnitFiles, ServiceError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| ServiceError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.ends_with(".service") {
        return Err(ServiceError::NotAService(path.display().to_string()));
    }
    let text = read(path)?;
    let dir = PathBuf::from(format!("{}.d", path.display()));
    let mut confs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    confs.sort();
    let dropins = confs
        .iter()
        .map(|p| {
            let file = p.file_name().map(|n| n.to_string_lossy().into_owned());
            Ok((file.unwrap_or_default(), read(p)?))
        })
        .collect::<Result<_, ServiceError>>()?;
    Ok(UnitFiles {
        name,
        text,
        dropins,
        path: path.to_path_buf(),
    })
}

/// Loads `unit` into a sandboxed systemd booted from `root` and returns its
/// settings as systemd parsed them. `exe` is our own binary.
pub fn parse_with_systemd(
    exe: &str,
    root: crate::scenario::SystemdRoot,
    unit: &UnitFiles,
) -> Result<props::UnitProps, ServiceError> {
    let machine =
        SystemdMachine::boot(exe, root, &[]).map_err(|e| ServiceError::Boot(e.to_string()))?;
    let dir = machine.path("/run/systemd/system");
    let io = |e: std::io::Error| ServiceError::Load {
        unit: unit.name.clone(),
        said: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::write(dir.join(&unit.name), &unit.text).map_err(io)?;
    if !unit.dropins.is_empty() {
        let d = dir.join(format!("{}.d", unit.name));
        std::fs::create_dir_all(&d).map_err(io)?;
        for (file, text) in &unit.dropins {
            std::fs::write(d.join(file), text).map_err(io)?;
        }
    }
    let run = |args: &[&str]| -> Result<String, ServiceError> {
        let out = machine.nsenter().args(args).output().map_err(io)?;
        if !out.status.success() {
            return Err(ServiceError::Load {
                unit: unit.name.clone(),
                said: format!(
                    "`{}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    run(&["systemctl", "daemon-reload"])?;
    let path = props::object_path(&unit.name);
    let mut args = vec![
        "busctl",
        "--json=short",
        "get-property",
        "org.freedesktop.systemd1",
        &path,
        "org.freedesktop.systemd1.Service",
    ];
    args.extend(props::PROPERTIES);
    let text = run(&args)?;
    let parsed = props::parse(&text)?;
    if parsed.exec_start.is_empty() {
        return Err(ServiceError::NoExecStart {
            unit: unit.name.clone(),
        });
    }
    Ok(parsed)
}
