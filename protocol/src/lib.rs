//! The protocol between the server and `index-builder`, its only writer of
//! bundles: the builder runs as a child process and, with `--json`, prints
//! one [`Event`] per line on stdout; the server reads them back with the
//! same types. Reports (validation, build, change) are the builder's results
//! and the admin API's answers alike.
//!
//! Errors cross as a [`Failure`]: a kind and a message written for the
//! person who can act on it. Messages of [`FailureKind::Internal`] failures
//! are not shown to museum keys (they can name server paths); the detail
//! is on the builder's stderr, which the server logs.

use recognizer::bundle::BundleManifest;
use serde::{Deserialize, Serialize};

/// One line of `index-builder --json` output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Work under way: `done` of `total` in `stage`.
    Progress { stage: String, done: u64, total: u64 },
    /// The records were read and validated (a build's first event).
    Validated(ValidationReport),
    /// `import` or `validate` finished: the validation report.
    Imported(ValidationReport),
    /// `build` finished.
    Built(Box<BuildReport>),
    /// `upsert` or `delete` finished.
    Changed(ChangeReport),
    /// `publish` or `rollback` finished: `version` is published, `previous` was.
    Published { museum: String, version: String, previous: Option<String> },
    /// `gc` finished.
    Collected { museum: String, removed: Vec<String>, kept: usize },
    /// `export-media`: the published version's media copied for a CDN.
    Exported { museum: String, version: String, copied: usize, skipped: usize },
    /// `list` finished.
    Listed { museums: Vec<MuseumVersions> },
    /// The command failed; nothing was published.
    Failed(Failure),
}

impl Event {
    /// The event as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"event":"failed","kind":"internal","message":"event not serialisable: {e}"}}"#)
        })
    }

    /// Reads one line; `None` for lines that are not events (never expected,
    /// but a stray line must not fail a job).
    pub fn from_line(line: &str) -> Option<Self> {
        serde_json::from_str(line).ok()
    }

    /// Whether this event ends a command (a result or a failure).
    pub fn is_final(&self) -> bool {
        !matches!(self, Event::Progress { .. } | Event::Validated(_))
    }
}

/// Why a command failed, for the person who can fix it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The input: records, images, a version or exhibit named, too many rejected records.
    Invalid,
    /// Something named does not exist (a version, an exhibit, a published bundle).
    NotFound,
    /// Another builder holds the museum, or the published version moved meanwhile.
    Conflict,
    /// Anything else (I/O, the model, the index); the message is for operators.
    Internal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// Rejected records, when that is why (a build over its allowed ratio).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<RecordIssue>,
}

impl Failure {
    /// What a museum key is shown: the message, except for internal failures.
    pub fn public_message(&self) -> &str {
        match self.kind {
            FailureKind::Internal => "the index builder failed; the operator can find the cause in the server log",
            _ => &self.message,
        }
    }

    /// [`Self::public_message`] with the rejected records' reasons, so a
    /// person reading it knows what to fix (the first few records).
    pub fn explained(&self) -> String {
        const SHOWN: usize = 5;
        let message = self.public_message();
        if self.kind == FailureKind::Internal || self.issues.is_empty() {
            return message.to_owned();
        }
        let mut parts: Vec<String> = self
            .issues
            .iter()
            .take(SHOWN)
            .map(|i| {
                let who = i.id.as_deref().map_or_else(|| format!("record {}", i.position), |id| format!("`{id}`"));
                format!("{who}: {}", i.reasons.join("; "))
            })
            .collect();
        if self.issues.len() > SHOWN {
            parts.push(format!("and {} more", self.issues.len() - SHOWN));
        }
        format!("{message} ({})", parts.join(" | "))
    }
}

/// The lifecycle jobs the server runs through the builder.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Import,
    Build,
    Upsert,
    Delete,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Succeeded,
    Failed,
}

/// Why a record was rejected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordIssue {
    /// 1-based position in the input (row number for CSV, element for JSON).
    pub position: usize,
    /// The record's id, where it had one.
    pub id: Option<String>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    Accepted,
    Rejected,
}

/// One record's verdict, as the validation report lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub position: usize,
    pub id: Option<String>,
    pub status: VerdictStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

/// The validation report: a verdict for every record, in input order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValidationReport {
    pub museum: String,
    pub total: usize,
    pub accepted: usize,
    pub rejected: usize,
    /// Rejected records' share of all records.
    pub error_ratio: f64,
    pub records: Vec<Verdict>,
}

impl ValidationReport {
    /// Every reason any record was rejected, in order.
    pub fn reasons(&self) -> Vec<String> {
        self.records.iter().flat_map(|r| r.reasons.iter().cloned()).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BuildReport {
    pub museum: String,
    pub version: String,
    pub published: bool,
    pub records_total: usize,
    pub records_accepted: usize,
    pub rejected: Vec<RecordIssue>,
    pub vectors: usize,
    pub embed_seconds: f64,
    pub calibrate_seconds: f64,
    pub manifest: BundleManifest,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeReport {
    pub museum: String,
    /// The version the change was applied to.
    pub base_version: String,
    pub version: String,
    pub published: bool,
    /// Exhibits added or replaced.
    pub upserted: Vec<String>,
    pub deleted: Vec<String>,
    pub rejected: Vec<RecordIssue>,
    pub exhibits: usize,
    pub vectors: usize,
    pub seconds: f64,
}

/// A museum's bundle versions, oldest first, and the published one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MuseumVersions {
    pub museum: String,
    pub current: Option<String>,
    pub versions: Vec<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_round_trip_as_one_json_line_each() {
        let events = [
            Event::Progress { stage: "embedding".into(), done: 3, total: 9 },
            Event::Published { museum: "m".into(), version: "v2".into(), previous: Some("v1".into()) },
            Event::Collected { museum: "m".into(), removed: vec!["v0".into()], kept: 3 },
            Event::Failed(Failure { kind: FailureKind::Conflict, message: "busy".into(), issues: vec![] }),
            Event::Imported(ValidationReport {
                museum: "m".into(),
                total: 1,
                accepted: 0,
                rejected: 1,
                error_ratio: 1.0,
                records: vec![Verdict {
                    position: 1,
                    id: None,
                    status: VerdictStatus::Rejected,
                    reasons: vec!["no id".into()],
                }],
            }),
        ];
        for e in events {
            let line = e.to_line();
            assert!(!line.contains('\n'));
            assert_eq!(Event::from_line(&line).unwrap(), e, "{line}");
        }
        // The wire names the server and scripts read.
        let line = Event::Progress { stage: "s".into(), done: 1, total: 2 }.to_line();
        assert_eq!(line, r#"{"event":"progress","stage":"s","done":1,"total":2}"#);
        let failed = Event::Failed(Failure { kind: FailureKind::Invalid, message: "x".into(), issues: vec![] });
        assert_eq!(failed.to_line(), r#"{"event":"failed","kind":"invalid","message":"x"}"#);
        assert_eq!(Event::from_line("not json"), None);
        assert!(!Event::Progress { stage: "s".into(), done: 0, total: 0 }.is_final());
    }

    #[test]
    fn a_rejection_says_what_to_fix() {
        let issue = |position, id: Option<&str>| RecordIssue {
            position,
            id: id.map(str::to_owned),
            reasons: vec!["missing title".into(), "image a.jpg: not found".into()],
        };
        let f = Failure {
            kind: FailureKind::Invalid,
            message: "1 of 1 records rejected".into(),
            issues: vec![issue(1, Some("pd-1")), issue(2, None)],
        };
        assert_eq!(
            f.explained(),
            "1 of 1 records rejected (`pd-1`: missing title; image a.jpg: not found | record 2: missing title; image a.jpg: not found)"
        );
        let many = Failure { issues: (1..=7).map(|n| issue(n, None)).collect(), ..f.clone() };
        assert!(many.explained().ends_with("| and 2 more)"), "{}", many.explained());
        let internal = Failure { kind: FailureKind::Internal, ..f };
        assert!(!internal.explained().contains("missing title"));
    }

    #[test]
    fn internal_failures_are_not_shown_to_museums() {
        let f = |kind| Failure { kind, message: "cannot read /srv/museum/data/x.json".into(), issues: vec![] };
        assert!(!f(FailureKind::Internal).public_message().contains("/srv"));
        assert!(f(FailureKind::Invalid).public_message().contains("x.json"));
    }
}
