//! One file per run: a run directory as a `.tar.gz`, so Ansible's `fetch`,
//! `kubectl cp` or a CI artifact carries one file, and `stopbench merge`
//! reads it back. Only the files a run directory holds go in; derived
//! files come along, but merge re-derives everything from the trials.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("`{0}` is not a run directory (no run.json) nor a sweep's (no sweep.json)")]
    NotARun(String),
    #[error("cannot write the bundle `{path}`: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the bundle `{path}`: {why}")]
    Read { path: String, why: String },
}

/// The folder name a bundle's files sit under.
const TOP: &str = "run";

/// Writes `dir` as a gzipped tar at `file`, whole or not at all.
pub fn pack(dir: &Path, file: &Path) -> Result<(), BundleError> {
    if !dir.join("run.json").is_file() && !dir.join("sweep.json").is_file() {
        return Err(BundleError::NotARun(dir.display().to_string()));
    }
    let io = |source| BundleError::Write {
        path: file.display().to_string(),
        source,
    };
    let tmp = file.with_extension("partial");
    let out = std::fs::File::create(&tmp).map_err(io)?;
    let mut tar = tar::Builder::new(GzEncoder::new(out, flate2::Compression::default()));
    tar.follow_symlinks(false);
    tar.append_dir_all(TOP, dir).map_err(io)?;
    let gz = tar.into_inner().map_err(io)?;
    gz.finish().map_err(io)?;
    std::fs::rename(&tmp, file).map_err(io)
}

/// Unpacks a bundle under `into`; returns the run directory inside.
/// Entries that would land outside `into` are refused by the tar reader.
pub fn unpack(file: &Path, into: &Path) -> Result<PathBuf, BundleError> {
    let bad = |why: String| BundleError::Read {
        path: file.display().to_string(),
        why,
    };
    let input = std::fs::File::open(file).map_err(|e| bad(e.to_string()))?;
    std::fs::create_dir_all(into).map_err(|e| bad(format!("{}: {e}", into.display())))?;
    let mut archive = tar::Archive::new(GzDecoder::new(input));
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(bad("it holds something other than files and folders".into()));
        }
        if !entry.unpack_in(into).map_err(|e| bad(e.to_string()))? {
            return Err(bad("an entry points outside the archive".into()));
        }
    }
    let dir = into.join(TOP);
    if !dir.join("run.json").is_file() {
        return Err(bad("no run.json inside: not a stopbench bundle".into()));
    }
    Ok(dir)
}

/// Copies a run directory's files (and folders) to `to`, made afresh.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    copy_tree(from, to)
}

/// Copies a tree of files, folders and symbolic links (as links) into `to`.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            let _ = std::os::unix::fs::symlink(link, target);
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_round_trips_and_a_foreign_archive_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("some-run");
        std::fs::create_dir_all(run.join("plots")).unwrap();
        std::fs::write(run.join("run.json"), "{}").unwrap();
        std::fs::write(run.join("trials.csv"), "a,b\n1,2\n").unwrap();
        std::fs::write(run.join("plots/x.svg"), "<svg/>").unwrap();
        let file = tmp.path().join("run.tar.gz");
        pack(&run, &file).unwrap();
        let back = unpack(&file, &tmp.path().join("out")).unwrap();
        assert_eq!(
            std::fs::read_to_string(back.join("trials.csv")).unwrap(),
            "a,b\n1,2\n"
        );
        assert!(back.join("plots/x.svg").is_file());
        assert!(matches!(
            pack(tmp.path().join("nope").as_path(), &file),
            Err(BundleError::NotARun(_))
        ));
        std::fs::write(tmp.path().join("junk.tar.gz"), b"not gzip").unwrap();
        assert!(unpack(&tmp.path().join("junk.tar.gz"), &tmp.path().join("j")).is_err());
    }
}
