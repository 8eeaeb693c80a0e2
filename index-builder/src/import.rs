//! Staging an import: everything a build needs, in one folder of its own.
//!
//! ```text
//! <out>/records.json|csv   the records as given (or made from IIIF manifests)
//! <out>/images/            the images: unpacked from a zip, copied from a folder,
//!                          and `_fetched/<sha256 of URL>` for URL images
//! <out>/report.json        a verdict for every record
//! ```
//!
//! Nothing outside `<out>` is written; zip entries that would escape it are
//! refused, as are archives past the size and entry limits.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::build::Progress;
use crate::collection::{Collection, FETCH_ERRORS, FETCHED_DIR, ValidationReport, image_path, is_url, load_collection};
use crate::fetch::Fetcher;

/// Where the records and images come from.
#[derive(Debug, Clone, Default)]
pub struct ImportSource {
    /// Records as CSV or JSON.
    pub records: Option<PathBuf>,
    /// A zip of the images the records name.
    pub zip: Option<PathBuf>,
    /// A folder of the images the records name.
    pub images: Option<PathBuf>,
    /// IIIF Presentation 3 manifest URLs, one object each.
    pub iiif: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ZipLimits {
    pub max_entries: usize,
    /// Total uncompressed bytes (counted as written, not as the archive claims).
    pub max_bytes: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self { max_entries: 100_000, max_bytes: 8 << 30 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Source(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("zip: {0}")]
    Zip(String),
    #[error(transparent)]
    Collection(#[from] crate::collection::CollectionError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.to_owned(), source }
}

/// The staged files' places under `out`.
pub fn staged_records(out: &Path) -> Option<PathBuf> {
    ["records.json", "records.csv"].into_iter().map(|n| out.join(n)).find(|p| p.is_file())
}

pub fn staged_images(out: &Path) -> PathBuf {
    out.join("images")
}

/// Stages `source` for `museum` under `out` and validates it.
pub async fn stage_import(
    source: &ImportSource,
    museum: &str,
    out: &Path,
    fetcher: &Fetcher,
    progress: &Progress,
) -> Result<(Collection, ValidationReport), ImportError> {
    let images = staged_images(out);
    std::fs::create_dir_all(images.join(FETCHED_DIR)).map_err(io(&images))?;
    // IIIF manifests that could not be fetched or read: (URL, reason).
    let mut unreadable_manifests = Vec::new();
    let records = match (&source.records, source.iiif.is_empty()) {
        (Some(path), true) => {
            let ext = match path.extension().and_then(|e| e.to_str()) {
                Some(e) if e.eq_ignore_ascii_case("csv") => "csv",
                _ => "json",
            };
            let dest = out.join(format!("records.{ext}"));
            std::fs::copy(path, &dest).map_err(io(path))?;
            dest
        }
        (None, false) => {
            let (records, failures) = iiif_records(&source.iiif, museum, fetcher).await;
            let dest = out.join("records.json");
            let json = serde_json::to_vec_pretty(&records).map_err(|e| ImportError::Source(e.to_string()))?;
            std::fs::write(&dest, json).map_err(io(&dest))?;
            unreadable_manifests = failures;
            dest
        }
        (Some(_), false) => return Err(ImportError::Source("give records or IIIF manifests, not both".into())),
        (None, true) => {
            return Err(ImportError::Source("no records: give a records file or IIIF manifest URLs".into()));
        }
    };
    if let Some(zip) = &source.zip {
        unpack_zip(zip, &images, &ZipLimits::default())?;
    }
    if let Some(dir) = &source.images {
        copy_tree(dir, &images)?;
    }
    fetch_url_images(&records, &images, museum, fetcher, progress).await?;
    let collection = load_collection(&records, &images, museum)?;
    let mut report = collection.report();
    // Manifests that could not be read are records too: reported, not dropped.
    for (url, reason) in unreadable_manifests {
        report.total += 1;
        report.rejected += 1;
        report.records.push(crate::collection::Verdict {
            position: report.records.len() + 1,
            id: Some(url),
            status: builder_protocol::VerdictStatus::Rejected,
            reasons: vec![reason],
        });
        report.error_ratio = report.rejected as f64 / report.total as f64;
    }
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap_or_default()).map_err(io(&path))?;
    Ok((collection, report))
}

async fn iiif_records(urls: &[String], museum: &str, fetcher: &Fetcher) -> (Vec<Value>, Vec<(String, String)>) {
    let mut records = Vec::new();
    let mut failures = Vec::new();
    for (url, body) in urls.iter().zip(fetcher.get_all(urls).await) {
        let parsed = body
            .map_err(|e| format!("manifest unreachable ({e})"))
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| format!("manifest is not JSON ({e})")))
            .and_then(|m| crate::iiif::manifest_to_record(&m, museum));
        match parsed {
            Ok(r) => records.push(r),
            Err(reason) => failures.push((url.clone(), reason)),
        }
    }
    (records, failures)
}

/// Fetches every URL image the records name into `images/_fetched/`, and
/// records why the others failed (the records then get that reason).
async fn fetch_url_images(
    records: &Path,
    images: &Path,
    museum: &str,
    fetcher: &Fetcher,
    progress: &Progress,
) -> Result<(), ImportError> {
    // Every URL image of every record that parses, whatever its other faults.
    let mut urls: Vec<String> = crate::collection::parse_records(records, museum)?
        .into_iter()
        .flatten()
        .flat_map(|r| r.images)
        .filter(|n| is_url(n))
        .collect();
    urls.sort();
    urls.dedup();
    if urls.is_empty() {
        return Ok(());
    }
    let mut errors: HashMap<String, String> = HashMap::new();
    for (done, chunk) in urls.chunks(fetcher.options().concurrency.max(1) * 4).enumerate() {
        for (url, body) in chunk.iter().zip(fetcher.get_all(chunk).await) {
            match body {
                Ok(bytes) => {
                    let path = image_path(images, url);
                    std::fs::write(&path, bytes).map_err(io(&path))?;
                }
                Err(e) => {
                    errors.insert(url.clone(), e.to_string());
                }
            }
        }
        progress.report("fetching", ((done + 1) * chunk.len()).min(urls.len()), urls.len());
    }
    let path = images.join(FETCH_ERRORS);
    std::fs::write(&path, serde_json::to_vec_pretty(&errors).unwrap_or_default()).map_err(io(&path))?;
    Ok(())
}

/// Unpacks `zip` into `dest`. Entries whose names would leave `dest`
/// (absolute, `..`) fail the whole import: such an archive is not a collection.
pub fn unpack_zip(zip: &Path, dest: &Path, limits: &ZipLimits) -> Result<usize, ImportError> {
    let file = std::fs::File::open(zip).map_err(io(zip))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| ImportError::Zip(e.to_string()))?;
    if archive.len() > limits.max_entries {
        return Err(ImportError::Zip(format!("{} entries, more than {}", archive.len(), limits.max_entries)));
    }
    let mut written = 0u64;
    let mut files = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| ImportError::Zip(e.to_string()))?;
        let name = entry.name().map_or_else(|_| format!("#{i}"), |n| n.into_owned());
        let Some(rel) = entry.enclosed_name() else {
            return Err(ImportError::Zip(format!("entry `{name}` would be written outside the images folder")));
        };
        let path = dest.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path).map_err(io(&path))?;
            continue;
        }
        if entry.is_symlink() {
            return Err(ImportError::Zip(format!("entry `{name}` is a symbolic link")));
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = std::fs::File::create(&path).map_err(io(&path))?;
        let budget = limits.max_bytes - written;
        let n = std::io::copy(&mut (&mut entry).take(budget + 1), &mut out).map_err(io(&path))?;
        if n > budget {
            return Err(ImportError::Zip(format!("more than {} bytes uncompressed", limits.max_bytes)));
        }
        written += n;
        files += 1;
    }
    Ok(files)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), ImportError> {
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(io(&entry.path()))?;
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(io(&target))?;
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(io(&target))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = zip::ZipWriter::new(file.reopen().unwrap());
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
        file
    }

    #[test]
    fn zip_entries_cannot_escape_and_sizes_are_capped() {
        let dest = tempfile::tempdir().unwrap();
        let ok = zip_with(&[("a/b.jpg", b"xx"), ("c.jpg", b"yyy")]);
        assert_eq!(unpack_zip(ok.path(), dest.path(), &ZipLimits::default()).unwrap(), 2);
        assert_eq!(std::fs::read(dest.path().join("a/b.jpg")).unwrap(), b"xx");

        let evil = zip_with(&[("../../evil.jpg", b"x")]);
        let err = unpack_zip(evil.path(), dest.path(), &ZipLimits::default()).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        assert!(!dest.path().parent().unwrap().join("evil.jpg").exists());

        let big = zip_with(&[("big.bin", &[0u8; 1000])]);
        let limits = ZipLimits { max_entries: 10, max_bytes: 100 };
        assert!(unpack_zip(big.path(), dest.path(), &limits).unwrap_err().to_string().contains("more than 100 bytes"));
        let many = zip_with(&[("1", b"1"), ("2", b"2"), ("3", b"3")]);
        let limits = ZipLimits { max_entries: 2, max_bytes: 100 };
        assert!(unpack_zip(many.path(), dest.path(), &limits).is_err());
    }
}
