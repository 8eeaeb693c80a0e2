//! The index schema and how an exhibit record becomes a document.
//!
//! Record fields are grouped by weight into four kinds, each with one index
//! field per analysis family (see [`crate::analysis`]):
//!
//! | kind   | record fields                                   | boost |
//! |--------|-------------------------------------------------|-------|
//! | title  | title                                           | 4.0   |
//! | meta   | maker, period, date (display)                   | 2.5   |
//! | detail | material, culture, gallery, object type         | 1.5   |
//! | body   | description                                     | 1.0   |
//!
//! plus CJK n-gram fields (title/meta/detail, and body), the accession
//! number (parts, and whole), and the stored exhibit id. Nothing but the id
//! is stored, and no positions are indexed: queries are term, prefix and
//! conjunction queries, never phrases.

use recognizer::ExhibitRecord;
use recognizer::bundle::LangText;
use tantivy::TantivyDocument;
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions};

use crate::SearchError;
use crate::analysis::{self, Family};

/// Which part of a record a text comes from; decides its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Title,
    Meta,
    Detail,
    Body,
}

impl Kind {
    pub(crate) const ALL: [Kind; 4] = [Kind::Title, Kind::Meta, Kind::Detail, Kind::Body];

    fn name(self) -> &'static str {
        match self {
            Kind::Title => "title",
            Kind::Meta => "meta",
            Kind::Detail => "detail",
            Kind::Body => "body",
        }
    }

    /// Score multiplier of a match in this kind.
    pub(crate) fn boost(self) -> f32 {
        match self {
            Kind::Title => 4.0,
            Kind::Meta => 2.5,
            Kind::Detail => 1.5,
            Kind::Body => 1.0,
        }
    }
}

/// The three index fields of one kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindFields {
    pub kind: Kind,
    /// Jieba words.
    pub cjk: Field,
    /// English, stemmed.
    pub en: Field,
    /// Non-CJK, unstemmed.
    pub plain: Field,
}

/// Every field of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub kinds: [KindFields; 4],
    /// CJK n-grams of title, meta and detail.
    pub ngram_head: Field,
    /// CJK n-grams of the description.
    pub ngram_body: Field,
    pub accession: Field,
    pub accession_raw: Field,
}

const ID: &str = "id";
const NGRAM_HEAD: &str = "ngram_head";
const NGRAM_BODY: &str = "ngram_body";
const ACCESSION: &str = "accession";
const ACCESSION_RAW: &str = "accession_raw";

fn text(tokenizer: &str, record: IndexRecordOption) -> TextOptions {
    TextOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(record))
}

/// The schema (field names and analyzers are part of the on-disk format).
pub(crate) fn build() -> Schema {
    let freqs = IndexRecordOption::WithFreqs;
    let mut schema = Schema::builder();
    schema.add_text_field(ID, STRING | STORED);
    for kind in Kind::ALL {
        let cjk = if kind == Kind::Meta { analysis::CJK_WORDS_CHARS } else { analysis::CJK_WORDS };
        schema.add_text_field(&format!("{}_cjk", kind.name()), text(cjk, freqs));
        schema.add_text_field(&format!("{}_en", kind.name()), text(analysis::ENGLISH, freqs));
        schema.add_text_field(&format!("{}_plain", kind.name()), text(analysis::PLAIN, freqs));
    }
    schema.add_text_field(NGRAM_HEAD, text(analysis::CJK_NGRAMS, freqs));
    schema.add_text_field(NGRAM_BODY, text(analysis::CJK_NGRAMS, freqs));
    schema.add_text_field(ACCESSION, text(analysis::ACCESSION, IndexRecordOption::Basic));
    schema.add_text_field(ACCESSION_RAW, text(analysis::RAW, IndexRecordOption::Basic));
    schema.build()
}

impl Fields {
    /// Looks the fields up in `schema` (an index written by this crate).
    pub(crate) fn of(schema: &Schema) -> Result<Self, SearchError> {
        let get = |name: &str| {
            schema.get_field(name).map_err(|_| SearchError::Format(format!("the index has no field {name}")))
        };
        let kind = |kind: Kind| -> Result<KindFields, SearchError> {
            Ok(KindFields {
                kind,
                cjk: get(&format!("{}_cjk", kind.name()))?,
                en: get(&format!("{}_en", kind.name()))?,
                plain: get(&format!("{}_plain", kind.name()))?,
            })
        };
        Ok(Self {
            id: get(ID)?,
            kinds: [kind(Kind::Title)?, kind(Kind::Meta)?, kind(Kind::Detail)?, kind(Kind::Body)?],
            ngram_head: get(NGRAM_HEAD)?,
            ngram_body: get(NGRAM_BODY)?,
            accession: get(ACCESSION)?,
            accession_raw: get(ACCESSION_RAW)?,
        })
    }

    fn kind(&self, kind: Kind) -> KindFields {
        self.kinds[kind as usize]
    }

    /// The document for one record.
    pub(crate) fn document(&self, record: &ExhibitRecord) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_text(self.id, &record.id);
        doc.add_text(self.accession, &record.accession_number);
        doc.add_text(self.accession_raw, analysis::normalise_accession(&record.accession_number));
        let mut add = |kind: Kind, text: &LangText| {
            for (tag, value) in text {
                self.add_value(&mut doc, kind, analysis::family(tag), value);
            }
        };
        add(Kind::Title, &record.title);
        add(Kind::Meta, &record.maker);
        add(Kind::Meta, &record.period);
        if let Some(date) = &record.date {
            add(Kind::Meta, &date.display);
        }
        add(Kind::Detail, &record.material);
        add(Kind::Detail, &record.culture);
        add(Kind::Detail, &record.gallery);
        add(Kind::Body, &record.description);
        if let Some(object_type) = &record.object_type {
            // A classification code, in English in every collection seen so far.
            self.add_value(&mut doc, Kind::Detail, Family::English, object_type);
        }
        doc
    }

    fn add_value(&self, doc: &mut TantivyDocument, kind: Kind, family: Family, value: &str) {
        let fields = self.kind(kind);
        let cjk = family == Family::Cjk || value.chars().any(analysis::is_cjk);
        if cjk {
            doc.add_text(fields.cjk, value);
            doc.add_text(if kind == Kind::Body { self.ngram_body } else { self.ngram_head }, value);
        }
        if family != Family::Cjk {
            doc.add_text(fields.plain, value);
        }
        if family == Family::English {
            doc.add_text(fields.en, value);
        }
    }
}
