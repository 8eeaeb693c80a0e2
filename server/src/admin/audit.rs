//! Who made and who published each version, and when: one JSON line per
//! event in `admin.data_dir/<museum>/versions.jsonl`. Bundles say what a
//! version holds; this says who did what with it, which the console shows
//! beside each version.
//!
//! A line is appended with one `write` on a file opened for appending, so
//! lines from several server processes never interleave; a line that does
//! not parse (a torn last line after a crash) is skipped when read, never
//! fatal. Recording is best effort: the event happened whether or not its
//! line was written (a failure is logged).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file, under a museum's data folder.
pub const FILE: &str = "versions.jsonl";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A full build wrote the version.
    Built,
    /// A single-exhibit change (or deletion) wrote it.
    Changed,
    /// It was made the published version (by a build or change that
    /// published, by publish, or by rollback).
    Published,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub at: String,
    /// `operator`, or `key <id> (label)` for a museum key.
    pub by: String,
    pub action: Action,
    pub version: String,
}

fn path(museum_dir: &Path) -> PathBuf {
    museum_dir.join(FILE)
}

/// Appends `entries` (one line each, one write for all).
pub fn append(museum_dir: &Path, entries: &[Entry]) {
    let mut text = String::new();
    for e in entries {
        if let Ok(line) = serde_json::to_string(e) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    let written = std::fs::create_dir_all(museum_dir).and_then(|()| {
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path(museum_dir))?;
        // A line torn by a crash is closed first, so it costs only itself.
        if ends_torn(&mut file)? {
            text.insert(0, '\n');
        }
        file.write_all(text.as_bytes())
    });
    if let Err(e) = written {
        tracing::warn!(dir = %museum_dir.display(), error = %e, "version history not recorded");
    }
}

/// Whether the file's last byte is not a newline.
fn ends_torn(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Every recorded event, oldest first.
pub fn read(museum_dir: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path(museum_dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Now, as the history writes times.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_events_read_back_in_order_and_a_torn_line_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let e = |v: &str, action| Entry { at: now(), by: "operator".into(), action, version: v.into() };
        append(dir.path(), &[e("v1", Action::Built), e("v1", Action::Published)]);
        // A crash mid-line leaves a fragment; the next append starts a new line.
        std::fs::OpenOptions::new().append(true).open(path(dir.path())).unwrap().write_all(b"{\"at\":").unwrap();
        append(dir.path(), &[e("v2", Action::Changed)]);
        let read = read(dir.path());
        let got: Vec<(&str, Action)> = read.iter().map(|e| (e.version.as_str(), e.action)).collect();
        assert_eq!(got, [("v1", Action::Built), ("v1", Action::Published), ("v2", Action::Changed)]);
    }
}
