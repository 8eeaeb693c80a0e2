//! Reading collections: records as JSON (an array of records) or CSV (one row
//! per exhibit, `field_<lang>` columns for translated text), plus a folder of
//! images. Bad records are data, not failures: each gets a verdict.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use recognizer::ExhibitRecord;
use recognizer::bundle::{DateSpan, LangText};

pub use builder_protocol::{RecordIssue, ValidationReport, Verdict, VerdictStatus};

/// A validated collection of one museum: accepted records plus the verdicts on the rest.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The museum (tenant) the collection belongs to.
    pub museum: String,
    pub records: Vec<ExhibitRecord>,
    pub images_dir: PathBuf,
    pub rejected: Vec<RecordIssue>,
    pub total: usize,
    /// Input position of each accepted record.
    pub positions: Vec<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectionError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid records file: {reason}")]
    Format { path: PathBuf, reason: String },
}

impl Collection {
    /// No records (a change that only deletes).
    pub fn empty(museum: &str) -> Self {
        Self {
            museum: museum.to_owned(),
            records: Vec::new(),
            images_dir: PathBuf::new(),
            rejected: Vec::new(),
            total: 0,
            positions: Vec::new(),
        }
    }

    /// Every record's verdict (accepted ones by their position in the input).
    pub fn report(&self) -> ValidationReport {
        let mut records: Vec<Verdict> = self
            .rejected
            .iter()
            .map(|r| Verdict {
                position: r.position,
                id: r.id.clone(),
                status: VerdictStatus::Rejected,
                reasons: r.reasons.clone(),
            })
            .collect();
        records.extend(self.records.iter().zip(&self.positions).map(|(r, &position)| Verdict {
            position,
            id: Some(r.id.clone()),
            status: VerdictStatus::Accepted,
            reasons: Vec::new(),
        }));
        records.sort_by_key(|v| v.position);
        ValidationReport {
            museum: self.museum.clone(),
            total: self.total,
            accepted: self.records.len(),
            rejected: self.rejected.len(),
            error_ratio: self.error_ratio(),
            records,
        }
    }

    pub fn error_ratio(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.rejected.len() as f64 / self.total as f64 }
    }
}

/// Reads and validates one museum's collection. Records without a museum get
/// `museum`; records naming another museum are rejected.
pub fn load_collection(records: &Path, images_dir: &Path, museum: &str) -> Result<Collection, CollectionError> {
    load(records, images_dir, museum, false)
}

/// Records of a change to served exhibits that keeps what it does not
/// replace (`upsert --keep-media`): a record may name no images (its
/// published ones stay), and audio names absent from `images_dir` may be
/// the published guides'; [`crate::apply_changes`] checks both against the
/// published version, under the museum's lock.
pub fn load_change(records: &Path, images_dir: &Path, museum: &str) -> Result<Collection, CollectionError> {
    load(records, images_dir, museum, true)
}

fn load(records: &Path, images_dir: &Path, museum: &str, keep_media: bool) -> Result<Collection, CollectionError> {
    let default_museum = museum;
    let raw = parse_records(records, default_museum)?;
    let fetch_errors: HashMap<String, String> = std::fs::read(images_dir.join(FETCH_ERRORS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let total = raw.len();
    let mut seen_ids = HashSet::new();
    let mut seen_accessions = HashSet::new();
    let mut accepted = Vec::new();
    let mut positions = Vec::new();
    let mut rejected = Vec::new();
    for (i, parsed) in raw.into_iter().enumerate() {
        let position = i + 1;
        let record = match parsed {
            Ok(r) => r,
            Err(reason) => {
                rejected.push(RecordIssue { position, id: None, reasons: vec![reason] });
                continue;
            }
        };
        let mut reasons = Vec::new();
        if record.museum != museum {
            reasons.push(format!("belongs to museum `{}`, but this collection is `{museum}`'s", record.museum));
        }
        if record.id.trim().is_empty() {
            reasons.push("missing id".to_owned());
        } else if !record.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            reasons.push(format!("id `{}` may only contain ASCII letters, digits, '-', '_' and '.'", record.id));
        }
        if record.accession_number.trim().is_empty() {
            reasons.push("missing accession_number".to_owned());
        }
        if record.title.values().all(|t| t.trim().is_empty()) {
            reasons.push("missing title".to_owned());
        }
        if record.images.is_empty() && !keep_media {
            reasons.push("no images".to_owned());
        }
        for name in &record.images {
            // Checked against the published images under the lock (keep_media).
            if keep_media && relative_inside_missing(images_dir, name) {
                continue;
            }
            if let Err(reason) = check_image(images_dir, name, &fetch_errors) {
                reasons.push(format!("image {name}: {reason}"));
            }
        }
        for (lang, name) in &record.audio {
            if keep_media && relative_inside_missing(images_dir, name) {
                continue;
            }
            if let Err(reason) = crate::media::check_audio(images_dir, lang, name) {
                reasons.push(format!("audio {name}: {reason}"));
            }
        }
        if !record.id.is_empty() && !seen_ids.insert(record.id.clone()) {
            reasons.push(format!("duplicate id {}", record.id));
        }
        let accession = (record.museum.clone(), record.accession_number.clone());
        if !record.accession_number.is_empty() && !seen_accessions.insert(accession) {
            reasons.push(format!("duplicate accession number {}", record.accession_number));
        }
        if reasons.is_empty() {
            accepted.push(record);
            positions.push(position);
        } else {
            rejected.push(RecordIssue { position, id: Some(record.id).filter(|s| !s.is_empty()), reasons });
        }
    }
    Ok(Collection {
        museum: museum.to_owned(),
        records: accepted,
        positions,
        images_dir: images_dir.to_owned(),
        rejected,
        total,
    })
}

/// A name inside `dir` that names no file there (a change's reference to a published file).
fn relative_inside_missing(dir: &Path, name: &str) -> bool {
    !is_url(name) && crate::media::relative_inside(name).is_ok_and(|p| !dir.join(p).exists())
}

/// Where fetched copies of URL images live inside an images folder.
pub const FETCHED_DIR: &str = "_fetched";
/// Why URL images could not be fetched: `{url: reason}` in the images folder.
pub const FETCH_ERRORS: &str = "_fetched/errors.json";

/// Whether an image name is a URL (fetched at import) rather than a file name.
pub fn is_url(name: &str) -> bool {
    name.starts_with("http://") || name.starts_with("https://")
}

/// The file holding image `name`: the name itself under `dir`, or for a
/// URL, the copy fetched at import (named by the URL's sha256).
pub fn image_path(dir: &Path, name: &str) -> PathBuf {
    if is_url(name) { dir.join(FETCHED_DIR).join(recognizer::sha256_bytes(name.as_bytes())) } else { dir.join(name) }
}

/// An image must stay inside the images folder, exist, and have a decodable
/// header; a URL image must have been fetched.
fn check_image(dir: &Path, name: &str, fetch_errors: &HashMap<String, String>) -> Result<(), String> {
    if is_url(name) {
        if let Some(reason) = fetch_errors.get(name) {
            return Err(format!("unreachable URL ({reason})"));
        }
        if !image_path(dir, name).is_file() {
            return Err("URL not fetched (import the collection with `index-builder import`)".into());
        }
        return check_decodable(&image_path(dir, name));
    }
    let path = dir.join(crate::media::relative_inside(name)?);
    if !path.exists() {
        return Err("not found among the collection's images (is it in the zip?)".into());
    }
    check_decodable(&path)
}

fn check_decodable(path: &Path) -> Result<(), String> {
    let reader = image::ImageReader::open(path).map_err(|e| format!("unreadable ({e})"))?;
    let reader = reader.with_guessed_format().map_err(|e| format!("unreadable ({e})"))?;
    let (w, h) = reader.into_dimensions().map_err(|e| format!("not a decodable image ({e})"))?;
    if w.min(h) < 64 {
        return Err(format!("too small ({w}x{h}; at least 64 px on each side)"));
    }
    Ok(())
}

pub(crate) type Parsed = Vec<Result<ExhibitRecord, String>>;

pub(crate) fn parse_records(path: &Path, default_museum: &str) -> Result<Parsed, CollectionError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| CollectionError::Read { path: path.to_owned(), source })?;
    let format_err = |reason: String| CollectionError::Format { path: path.to_owned(), reason };
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        return parse_csv(&text, default_museum).map_err(format_err);
    }
    // JSON: parse the array first, then each element on its own, so one bad
    // record is reported instead of failing the whole file.
    let values: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|e| format_err(e.to_string()))?;
    Ok(values
        .into_iter()
        .map(|mut v| {
            if let Some(obj) = v.as_object_mut() {
                obj.entry("museum").or_insert_with(|| default_museum.into());
            }
            serde_json::from_value::<ExhibitRecord>(v).map_err(|e| format!("invalid record: {e}"))
        })
        .collect())
}

/// `<field>_<lang>` columns of a CSV row (`audio_<lang>` names an audio file).
const LANG_FIELDS: [&str; 9] =
    ["title", "maker", "period", "culture", "material", "description", "gallery", "date_display", "audio"];

fn parse_csv(text: &str, default_museum: &str) -> Result<Parsed, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().map_err(|e| e.to_string())?.iter().map(str::to_owned).collect();
    for required in ["id", "accession_number", "images"] {
        if !headers.iter().any(|h| h == required) {
            return Err(format!("missing column `{required}`"));
        }
    }
    let mut out = Vec::new();
    for row in reader.records() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                out.push(Err(format!("unreadable row: {e}")));
                continue;
            }
        };
        let cells: HashMap<&str, &str> =
            headers.iter().map(String::as_str).zip(row.iter()).filter(|(_, v)| !v.trim().is_empty()).collect();
        out.push(csv_record(&cells, default_museum));
    }
    Ok(out)
}

fn csv_record(cells: &HashMap<&str, &str>, default_museum: &str) -> Result<ExhibitRecord, String> {
    let get = |k: &str| cells.get(k).map(|v| v.trim().to_owned());
    let mut lang: BTreeMap<&str, LangText> = BTreeMap::new();
    for (key, value) in cells {
        for field in LANG_FIELDS {
            if let Some(code) = key.strip_prefix(field).and_then(|r| r.strip_prefix('_'))
                && !code.is_empty()
                && *key != "audio_url"
                && !code.contains('_')
            {
                lang.entry(field).or_default().insert(code.to_owned(), value.trim().to_owned());
            }
        }
    }
    let mut take = |f: &str| lang.remove(f).unwrap_or_default();
    let year = |k: &str| -> Result<Option<i32>, String> {
        get(k).map(|v| v.parse::<i32>().map_err(|_| format!("{k} `{v}` is not a year"))).transpose()
    };
    let list = |k: &str| {
        get(k)
            .map(|v| v.split(';').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    };
    let (earliest, latest, display) = (year("date_earliest")?, year("date_latest")?, take("date_display"));
    let date = (earliest.is_some() || latest.is_some() || !display.is_empty()).then_some(DateSpan {
        display,
        earliest,
        latest,
    });
    Ok(ExhibitRecord {
        id: get("id").unwrap_or_default(),
        museum: get("museum").unwrap_or_else(|| default_museum.to_owned()),
        accession_number: get("accession_number").unwrap_or_default(),
        title: take("title"),
        object_type: get("object_type"),
        maker: take("maker"),
        date,
        period: take("period"),
        culture: take("culture"),
        material: take("material"),
        dimensions: get("dimensions"),
        description: take("description"),
        gallery: take("gallery"),
        images: list("images"),
        rights: get("rights"),
        audio_url: get("audio_url"),
        audio: take("audio"),
        related: list("related"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_image(dir: &Path, name: &str, side: u32) {
        image::RgbImage::new(side, side).save(dir.join(name)).unwrap();
    }

    #[test]
    fn csv_rows_become_records_and_bad_rows_get_reasons() {
        let dir = tempfile::tempdir().unwrap();
        write_image(dir.path(), "a.png", 100);
        write_image(dir.path(), "tiny.png", 10);
        std::fs::write(dir.path().join("notimg.png"), b"nope").unwrap();
        let csv = "id,accession_number,title_zh,title_en,images,date_earliest\n\
                   a,ACC1,瓶,Vase,a.png,1403\n\
                   b,ACC1,碗,Bowl,a.png,\n\
                   c,ACC3,,,tiny.png;missing.png,\n\
                   d,ACC4,盘,Dish,notimg.png,\n\
                   e,ACC5,杯,Cup,../a.png,\n\
                   f,ACC6,杯,Cup,a.png,soon\n";
        let path = dir.path().join("r.csv");
        std::fs::write(&path, csv).unwrap();
        let c = load_collection(&path, dir.path(), "m").unwrap();
        assert_eq!(c.total, 6);
        assert_eq!(c.records.len(), 1);
        let a = &c.records[0];
        assert_eq!(a.title["en"], "Vase");
        assert_eq!(a.museum, "m");
        assert_eq!(a.date.as_ref().unwrap().earliest, Some(1403));
        let reasons: HashMap<usize, String> = c.rejected.iter().map(|r| (r.position, r.reasons.join("; "))).collect();
        assert!(reasons[&2].contains("duplicate accession"), "{reasons:?}");
        assert!(
            reasons[&3].contains("missing title")
                && reasons[&3].contains("too small")
                && reasons[&3].contains("missing.png: not found among")
        );
        assert!(reasons[&4].contains("not a decodable image"));
        assert!(reasons[&5].contains("inside the images folder"));
        assert!(reasons[&6].contains("not a year"));
    }

    #[test]
    fn one_bad_json_record_does_not_sink_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_image(dir.path(), "a.png", 100);
        let json = r#"[{"id":"a","accession_number":"1","title":{"en":"A"},"images":["a.png"]},
                       {"id":"b","title":"not a map","images":[]}]"#;
        let path = dir.path().join("r.json");
        std::fs::write(&path, json).unwrap();
        let c = load_collection(&path, dir.path(), "m").unwrap();
        assert_eq!((c.records.len(), c.rejected.len()), (1, 1));
        assert!(c.rejected[0].reasons[0].starts_with("invalid record"));
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(load_collection(&path, dir.path(), "m"), Err(CollectionError::Format { .. })));
    }
}
