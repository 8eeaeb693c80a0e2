//! From what a visitor typed to a tantivy query.
//!
//! The text is split into units (see [`crate::analysis::units`]). Every
//! unit must match (AND), each anywhere (an OR across fields, scored as
//! the best field plus a little of the others), so more words narrow the
//! result. Per unit, in decreasing weight: the word in title, meta, detail,
//! body (BM25 times the kind's boost), then, at low weight, its CJK n-grams.
//! The last unit, when the text does not end in a separator (or ends in `*`), also matches
//! as a prefix (as-you-type: "bron" finds "bronze") at a constant score
//! well below a whole-word match. A common English word ("the", "of", ...)
//! is optional rather than required. Independently, the whole text matches
//! an accession number exactly (high score) or as its prefix.
//!
//! Only terms are built, never parsed syntax: no input is an error.

use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use crate::analysis::{self, Unit};
use crate::schema::Fields;

/// Longer queries are cut to this many characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// A prefix match scores this share of the kind's boost (constant, not BM25).
const PREFIX_FACTOR: f32 = 0.3;
/// Shortest prefix (in characters) matched as one, for letters and digits.
/// CJK needs none: its n-grams match any part of a word.
const MIN_PREFIX_CHARS: usize = 2;
/// CJK n-gram matches (the BM25 sum over the unit's n-grams, divided by their count).
const NGRAM_HEAD_BOOST: f32 = 0.6;
const NGRAM_BODY_BOOST: f32 = 0.25;
/// A letter/digit run of an accession number ("00146651" of 故00146651).
const ACCESSION_PART_BOOST: f32 = 2.0;
const ACCESSION_PART_PREFIX: f32 = 1.0;
/// The whole query is an accession number, or the start of one.
const ACCESSION_EXACT_BOOST: f32 = 8.0;
const ACCESSION_PREFIX: f32 = 3.0;
/// How much fields other than the best one add to a unit's score.
const TIE_BREAKER: f32 = 0.2;

/// English words that do not narrow a search.
const STOPWORDS: [&str; 18] = [
    "a", "an", "and", "at", "by", "for", "from", "in", "into", "is", "of", "on", "or", "the", "to", "with", "its", "s",
];

/// Builds queries; holds the query-side analyzers.
pub(crate) struct QueryBuilder<'a> {
    fields: &'a Fields,
    english: TextAnalyzer,
    plain: TextAnalyzer,
}

fn term(field: Field, text: &str, boost: f32) -> Box<dyn Query> {
    let query = TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs);
    Box::new(BoostQuery::new(Box::new(query), boost))
}

fn prefix(field: Field, text: &str, score: f32) -> Box<dyn Query> {
    // Levenshtein distance 0 on a prefix automaton: exactly the terms starting with `text`.
    let query = FuzzyTermQuery::new_prefix(Term::from_field_text(field, text), 0, false);
    Box::new(BoostQuery::new(Box::new(query), score))
}

impl<'a> QueryBuilder<'a> {
    pub(crate) fn new(fields: &'a Fields) -> Self {
        Self { fields, english: analysis::english(), plain: analysis::plain() }
    }

    /// The query for `text`, or `None` when it has nothing to search for.
    pub(crate) fn build(&mut self, text: &str) -> Option<Box<dyn Query>> {
        let text: String = text.chars().take(MAX_QUERY_CHARS).collect();
        // Still typing the last word, or asking for its completions ("bron*").
        let typing =
            text.ends_with('*') || text.chars().last().is_some_and(|c| c.is_alphanumeric() || analysis::is_cjk(c));
        let units = analysis::units(&text);
        let mut clauses = Vec::new();
        for (i, unit) in units.iter().enumerate() {
            let last = i + 1 == units.len();
            if let Some(query) = self.unit(unit, last && typing) {
                let optional = !unit.cjk && STOPWORDS.contains(&unit.text.as_str());
                clauses.push((if optional { Occur::Should } else { Occur::Must }, query));
            }
        }
        if clauses.iter().all(|(occur, _)| *occur == Occur::Should) {
            // Only common words: they are what was asked for.
            clauses.iter_mut().for_each(|(occur, _)| *occur = Occur::Must);
        }
        let mut any: Vec<Box<dyn Query>> = Vec::new();
        if !clauses.is_empty() {
            any.push(Box::new(BooleanQuery::new(clauses)));
        }
        let accession = analysis::normalise_accession(&text);
        if accession.chars().any(char::is_alphanumeric) {
            any.push(term(self.fields.accession_raw, &accession, ACCESSION_EXACT_BOOST));
            if accession.chars().count() >= MIN_PREFIX_CHARS {
                any.push(prefix(self.fields.accession_raw, &accession, ACCESSION_PREFIX));
            }
        }
        match any.len() {
            0 => None,
            1 => any.pop(),
            _ => Some(Box::new(BooleanQuery::union(any))),
        }
    }

    /// Where one unit may match, or `None` if no field could hold it.
    fn unit(&mut self, unit: &Unit, as_prefix: bool) -> Option<Box<dyn Query>> {
        let mut alternatives = Vec::new();
        if unit.cjk {
            for fields in &self.fields.kinds {
                alternatives.push(term(fields.cjk, &unit.text, fields.kind.boost()));
            }
            let ngrams = analysis::ngram_terms(&unit.text);
            for (field, boost) in
                [(self.fields.ngram_head, NGRAM_HEAD_BOOST), (self.fields.ngram_body, NGRAM_BODY_BOOST)]
            {
                let each = boost / ngrams.len().max(1) as f32;
                let all: Vec<Box<dyn Query>> = ngrams.iter().map(|n| term(field, n, each)).collect();
                alternatives.push(Box::new(BooleanQuery::intersection(all)));
            }
        } else {
            let english = analysis::one_term(&mut self.english, &unit.text);
            let plain = analysis::one_term(&mut self.plain, &unit.text);
            if english.is_none() && plain.is_none() {
                // Longer than any indexed word.
                return None;
            }
            for fields in &self.fields.kinds {
                let boost = fields.kind.boost();
                // Latin words and numbers inside CJK text (1787年, "Ru" in 汝窑 notes).
                alternatives.push(term(fields.cjk, &unit.text, boost));
                if let Some(english) = &english {
                    alternatives.push(term(fields.en, english, boost));
                }
                if let Some(plain) = &plain {
                    alternatives.push(term(fields.plain, plain, boost));
                }
                if as_prefix {
                    if let Some(plain) = plain.as_deref().filter(|p| p.chars().count() >= MIN_PREFIX_CHARS) {
                        alternatives.push(prefix(fields.plain, plain, PREFIX_FACTOR * boost));
                    }
                    if unit.text.chars().count() >= MIN_PREFIX_CHARS {
                        alternatives.push(prefix(fields.cjk, &unit.text, PREFIX_FACTOR * boost));
                    }
                }
            }
            alternatives.push(term(self.fields.accession, &unit.text, ACCESSION_PART_BOOST));
            if as_prefix && unit.text.chars().count() >= MIN_PREFIX_CHARS {
                alternatives.push(prefix(self.fields.accession, &unit.text, ACCESSION_PART_PREFIX));
            }
        }
        (!alternatives.is_empty())
            .then(|| Box::new(DisjunctionMaxQuery::with_tie_breaker(alternatives, TIE_BREAKER)) as Box<dyn Query>)
    }
}
