//! Ranked full-text search over a museum's exhibit records.
//!
//! The index builder writes a search index into every bundle version it
//! builds ([`write_index`] into `<version>/`[`DIR`]); the server opens it
//! once per loaded bundle ([`SearchIndex::open`], memory-mapped, never
//! written) and queries it from any thread ([`SearchIndex::search`]).
//!
//! Search covers title, maker, period/dynasty, date, culture, material,
//! gallery, object type, description and accession number, in every
//! language a record has. Chinese (and Japanese/Korean) text is segmented
//! with jieba, English is stemmed, the word being typed matches as a
//! prefix, and results are ranked by BM25 with a title match above a
//! maker/period match above a material/culture/gallery match above a
//! description match. See the `analysis` module for how text becomes terms and
//! the `query` module for how a query is matched and scored.
//!
//! Invariants:
//! - an index is written once, by one call, into an empty directory, and
//!   never changed after (a reader takes no lock files and writes nothing);
//! - no query text is an error: queries are built from analysed terms, never
//!   parsed as syntax; text past [`MAX_QUERY_CHARS`] is ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use recognizer::ExhibitRecord;
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::NoMergePolicy;
use tantivy::schema::Value;
use tantivy::store::Compressor;
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument};

mod analysis;
mod query;
mod readonly;
mod schema;

pub use query::MAX_QUERY_CHARS;

/// The search index's folder inside a bundle version.
pub const DIR: &str = "search";

/// The writer's indexing memory (one thread); larger catalogs flush more
/// segments, merged into one at the end.
const WRITER_MEMORY_BYTES: usize = 50_000_000;

/// Lock files tantivy's writer leaves behind (empty; not part of the index).
const LOCK_FILES: [&str; 2] = [".tantivy-meta.lock", ".tantivy-writer.lock"];

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("search index {}: directory is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("search index {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: tantivy::directory::error::OpenDirectoryError,
    },
    #[error("search index: {0}")]
    Format(String),
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io { path: path.to_owned(), source }
}

/// Writes the search index of `records` into `dir`, which must be empty
/// or not exist yet (it is created). One thread; the result is one
/// segment. Records keep their order as document order (the tie-break
/// between equal scores).
pub fn write_index(dir: &Path, records: &[ExhibitRecord]) -> Result<(), SearchError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(SearchError::NotEmpty(dir.to_owned()));
    }
    let settings = IndexSettings { docstore_compression: Compressor::None, ..IndexSettings::default() };
    let index = Index::builder().schema(schema::build()).settings(settings).create_in_dir(dir)?;
    analysis::register(index.tokenizers());
    let fields = schema::Fields::of(&index.schema())?;
    let mut writer: IndexWriter = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
    writer.set_merge_policy(Box::new(NoMergePolicy));
    for record in records {
        writer.add_document(fields.document(record))?;
    }
    writer.commit()?;
    let segments = index.searchable_segment_ids()?;
    if segments.len() > 1 {
        writer.merge(&segments).wait()?;
    }
    writer.garbage_collect_files().wait()?;
    writer.wait_merging_threads()?;
    drop(index);
    for name in LOCK_FILES {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
            _ => {}
        }
    }
    Ok(())
}

/// One page of search results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    /// How many exhibits match in all (for paging).
    pub total: usize,
    /// Exhibit ids with their scores, best first.
    pub ids: Vec<(String, f32)>,
}

/// An opened search index. Cheap to query from many threads at once.
pub struct SearchIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: schema::Fields,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex").field("dir", &self.dir).field("exhibits", &self.len()).finish()
    }
}

impl SearchIndex {
    /// Opens the index [`write_index`] wrote into `dir`: memory-maps it and
    /// loads jieba's dictionary (once per process, the first time).
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        let mmap = MmapDirectory::open(dir).map_err(|source| SearchError::Open { path: dir.to_owned(), source })?;
        let index = Index::open(readonly::ReadOnlyDirectory(mmap))?;
        analysis::register(index.tokenizers());
        let fields = schema::Fields::of(&index.schema())?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        analysis::warm_up();
        Ok(Self { dir: dir.to_owned(), reader, fields })
    }

    /// The number of exhibits indexed.
    pub fn len(&self) -> usize {
        self.reader.searcher().num_docs() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The exhibits matching `query`, best first: `limit` of them after
    /// skipping `offset`, and how many match in all. Text with nothing to
    /// search for (empty, only punctuation) matches nothing.
    pub fn search(&self, query: &str, limit: usize, offset: usize) -> Result<Hits, SearchError> {
        let Some(query) = query::QueryBuilder::new(&self.fields).build(query) else {
            return Ok(Hits::default());
        };
        let searcher = self.reader.searcher();
        let limit = limit.min((searcher.num_docs() as usize).saturating_sub(offset));
        if limit == 0 {
            let total = searcher.search(&*query, &Count)?;
            return Ok(Hits { total, ids: Vec::new() });
        }
        let top = TopDocs::with_limit(limit).and_offset(offset).order_by_score();
        let (top, total) = searcher.search(&*query, &(top, Count))?;
        let mut ids = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let id = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .ok_or_else(|| SearchError::Format(format!("document {address:?} has no id")))?;
            ids.push((id.to_owned(), score));
        }
        Ok(Hits { total, ids })
    }
}
