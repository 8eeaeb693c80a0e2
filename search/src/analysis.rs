//! Text analysis: how record text and query text become index terms.
//!
//! Record values are routed by language tag (see [`family`]):
//!
//! - **CJK** (`zh*`, `ja`, `ko`, `yue`, `lzh`, ... unless written in Latin
//!   script, e.g. `zh-Latn-pinyin`): jieba in search mode, which emits each
//!   word and the dictionary words inside it (清明上河图 → 清明, 上河, 河图,
//!   清明上河图). Japanese kanji segment reasonably with the Chinese
//!   dictionary; kana and hangul come out as jieba's fallback pieces, and the
//!   character n-grams below make them findable anyway. A value under any
//!   other tag that contains CJK characters is analysed this way too.
//! - **English** (`en*`): simple word split, lowercase, ASCII folding,
//!   English (Snowball) stemming: "paintings" and "painted" find "painting".
//! - **Plain**: every non-CJK value, English included, unstemmed: simple
//!   split, lowercase, ASCII folding ("cloisonne" finds "Cloisonné"). Other
//!   languages are matched here; for English it adds an exact-form bonus on
//!   top of the stemmed match and is what prefixes are matched against
//!   (a prefix of a word is not a prefix of its stem: "paintin" vs "paint").
//!
//! CJK text also goes, as character unigrams and bigrams, into n-gram
//! fields: a query word jieba segments differently from the record (天青 in
//! 汝窑天青釉…, segmented 汝窑天 / 青釉) still matches there, at a low weight.
//!
//! Maker, period and date values in CJK are additionally indexed per
//! character as whole words: dynasty names are single characters (清, 明,
//! 宋, 唐) that jieba folds into longer words (清乾隆 → 乾隆, 清乾隆), so
//! this is what makes 清 a word match on a Qing-dynasty exhibit, where on
//! 清明上河图 it is only part of the word 清明.

use std::collections::HashSet;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
    Token, TokenStream, Tokenizer, TokenizerManager,
};
use tantivy_jieba::JiebaTokenizer;

/// Jieba search-mode words (CJK fields).
pub(crate) const CJK_WORDS: &str = "catalog_cjk_words";
/// Jieba search-mode words plus every CJK character (CJK maker/period/date).
pub(crate) const CJK_WORDS_CHARS: &str = "catalog_cjk_words_chars";
/// CJK character unigrams and bigrams.
pub(crate) const CJK_NGRAMS: &str = "catalog_cjk_ngrams";
/// English, stemmed.
pub(crate) const ENGLISH: &str = "catalog_en";
/// Non-CJK text, unstemmed.
pub(crate) const PLAIN: &str = "catalog_plain";
/// Accession number parts (letter/digit runs, split at CJK boundaries).
pub(crate) const ACCESSION: &str = "catalog_accession";
/// The whole (normalised) accession number, one term.
pub(crate) const RAW: &str = "catalog_raw";

/// Longer tokens are dropped (as tantivy's `RemoveLongFilter` does).
const MAX_TOKEN_BYTES: usize = 40;

/// Which analysis a language-tagged value gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Cjk,
    English,
    Other,
}

/// The family of a BCP-47 tag (`zh-Hant` → CJK, `en-GB` → English).
pub(crate) fn family(tag: &str) -> Family {
    let tag = tag.to_ascii_lowercase();
    let mut subtags = tag.split(['-', '_']);
    let primary = subtags.next().unwrap_or("");
    let latin = subtags.any(|s| s == "latn");
    match primary {
        "zh" | "ja" | "ko" | "yue" | "lzh" | "cmn" | "wuu" | "hak" | "nan" | "gan" | "hsn" | "cjy" if !latin => {
            Family::Cjk
        }
        "en" => Family::English,
        _ => Family::Other,
    }
}

/// Han ideographs, kana and hangul: scripts written without spaces between words.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // hiragana, katakana
        | 0x3005..=0x3007   // 々 〆 〇
        | 0x3131..=0x318E   // hangul compatibility jamo
        | 0x31F0..=0x31FF   // katakana phonetic extensions
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xAC00..=0xD7A3   // hangul syllables
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0xFF66..=0xFF9F   // halfwidth katakana
        | 0x1100..=0x11FF   // hangul jamo
        | 0x20000..=0x3134F // CJK extensions B-H
    )
}

/// Registers every analyzer the schema names.
pub(crate) fn register(manager: &TokenizerManager) {
    manager.register(CJK_WORDS, CjkWords { jieba: JiebaTokenizer::new(), chars: false });
    manager.register(CJK_WORDS_CHARS, CjkWords { jieba: JiebaTokenizer::new(), chars: true });
    manager.register(CJK_NGRAMS, CjkNgrams);
    manager.register(ENGLISH, english());
    manager.register(PLAIN, plain());
    manager.register(ACCESSION, AccessionParts);
    manager.register(RAW, TextAnalyzer::builder(RawTokenizer::default()).filter(LowerCaser).build());
}

/// The English analyzer (also used on query words).
pub(crate) fn english() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The plain analyzer (also used on query words).
pub(crate) fn plain() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The single term `analyzer` makes of `word`, if it makes exactly one.
pub(crate) fn one_term(analyzer: &mut TextAnalyzer, word: &str) -> Option<String> {
    let mut stream = analyzer.token_stream(word);
    let first = stream.next()?.text.clone();
    stream.next().is_none().then_some(first)
}

/// Loads jieba's dictionary now (it loads on first use, once per process).
pub(crate) fn warm_up() {
    let mut jieba = JiebaTokenizer::with_search_mode(false);
    let _ = jieba.token_stream("故宫").next();
}

/// One unit of a query: a jieba word of a CJK run, or a letter/digit run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    /// Lowercased.
    pub text: String,
    pub cjk: bool,
}

/// Splits a query into units: letter/digit runs as the simple tokenizer
/// splits them, CJK runs segmented by jieba (default mode: the longest
/// words, which search-mode indexing also emitted).
pub(crate) fn units(query: &str) -> Vec<Unit> {
    let mut jieba = JiebaTokenizer::with_search_mode(false);
    let mut out = Vec::new();
    for (run, cjk) in runs(query) {
        if !cjk {
            out.push(Unit { text: run.to_lowercase(), cjk: false });
            continue;
        }
        let mut stream = jieba.token_stream(run);
        while let Some(token) = stream.next() {
            if token.text.chars().any(char::is_alphanumeric) {
                out.push(Unit { text: token.text.to_lowercase(), cjk: true });
            }
        }
    }
    out
}

/// Maximal runs of letters/digits, split where CJK meets non-CJK, each
/// with whether it is CJK. Everything else separates.
fn runs(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        let class = (c.is_alphanumeric() || is_cjk(c)).then(|| is_cjk(c));
        if let Some((s, k)) = start
            && class != Some(k)
        {
            out.push((&text[s..i], k));
            start = None;
        }
        if start.is_none() {
            start = class.map(|cjk| (i, cjk));
        }
    }
    if let Some((s, k)) = start {
        out.push((&text[s..], k));
    }
    out
}

/// A finished token list as a tantivy token stream.
pub(crate) struct Tokens {
    /// Remaining tokens, last first.
    rest: Vec<Token>,
    current: Token,
}

impl Tokens {
    fn new(mut tokens: Vec<Token>) -> Self {
        for (position, token) in tokens.iter_mut().enumerate() {
            token.position = position;
        }
        tokens.reverse();
        Self { rest: tokens, current: Token::default() }
    }
}

impl TokenStream for Tokens {
    fn advance(&mut self) -> bool {
        match self.rest.pop() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

fn token(text: String, offset_from: usize, offset_to: usize) -> Token {
    Token { offset_from, offset_to, position: 0, text, position_length: 1 }
}

/// Jieba search-mode words, lowercased, split into letter/digit runs
/// (punctuation tokens vanish; "24.8" → 24, 8 as the simple tokenizer
/// splits it); with `chars`, also every CJK character not already a word.
#[derive(Clone)]
struct CjkWords {
    jieba: JiebaTokenizer,
    chars: bool,
}

impl Tokenizer for CjkWords {
    type TokenStream<'a> = Tokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens {
        let mut out = Vec::new();
        let mut single = HashSet::new();
        let mut stream = self.jieba.token_stream(text);
        while let Some(word) = stream.next() {
            let base = word.offset_from;
            for (run, _) in runs(&word.text) {
                let start = base + (run.as_ptr() as usize - word.text.as_ptr() as usize);
                if run.len() > MAX_TOKEN_BYTES {
                    continue;
                }
                let mut chars = run.chars();
                if let (Some(c), None) = (chars.next(), chars.next())
                    && is_cjk(c)
                {
                    single.insert(start);
                }
                out.push(token(run.to_lowercase(), start, start + run.len()));
            }
        }
        if self.chars {
            for (i, c) in text.char_indices() {
                if is_cjk(c) && !single.contains(&i) {
                    out.push(token(c.to_string(), i, i + c.len_utf8()));
                }
            }
        }
        Tokens::new(out)
    }
}

/// CJK character unigrams and bigrams of each CJK run; other text is ignored.
#[derive(Clone)]
struct CjkNgrams;

impl Tokenizer for CjkNgrams {
    type TokenStream<'a> = Tokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens {
        let mut out = Vec::new();
        for (run, cjk) in runs(text) {
            if !cjk {
                continue;
            }
            let base = run.as_ptr() as usize - text.as_ptr() as usize;
            let chars: Vec<(usize, char)> = run.char_indices().collect();
            for (n, &(i, c)) in chars.iter().enumerate() {
                let from = base + i;
                out.push(token(c.to_string(), from, from + c.len_utf8()));
                if let Some(&(j, d)) = chars.get(n + 1) {
                    out.push(token(run[i..j + d.len_utf8()].to_owned(), from, base + j + d.len_utf8()));
                }
            }
        }
        Tokens::new(out)
    }
}

/// The CJK n-gram terms a query word must all match: the character itself,
/// or every bigram of a longer word.
pub(crate) fn ngram_terms(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    match chars.len() {
        0 => Vec::new(),
        1 => vec![word.to_owned()],
        _ => chars.windows(2).map(|w| w.iter().collect()).collect(),
    }
}

/// Accession number parts: letter/digit runs, split where CJK meets
/// non-CJK (新00005526 → 新, 00005526), lowercased.
#[derive(Clone)]
struct AccessionParts;

impl Tokenizer for AccessionParts {
    type TokenStream<'a> = Tokens;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Tokens {
        let tokens = runs(text)
            .into_iter()
            .filter(|(run, _)| run.len() <= MAX_TOKEN_BYTES)
            .map(|(run, _)| {
                let from = run.as_ptr() as usize - text.as_ptr() as usize;
                token(run.to_lowercase(), from, from + run.len())
            })
            .collect();
        Tokens::new(tokens)
    }
}

/// An accession number as the raw field holds it: lowercased, whitespace removed.
pub(crate) fn normalise_accession(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(mut analyzer: impl Tokenizer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    #[test]
    fn families() {
        assert_eq!(family("zh"), Family::Cjk);
        assert_eq!(family("zh-Hant"), Family::Cjk);
        assert_eq!(family("ja"), Family::Cjk);
        assert_eq!(family("zh-Latn-pinyin"), Family::Other);
        assert_eq!(family("en-GB"), Family::English);
        assert_eq!(family("fr"), Family::Other);
    }

    #[test]
    fn runs_split_at_script_boundaries() {
        assert_eq!(runs("新00005526"), vec![("新", true), ("00005526", false)]);
        assert_eq!(runs(" Ru-ware 汝窑!"), vec![("Ru", false), ("ware", false), ("汝窑", true)]);
        assert!(runs("\"*(\\[").is_empty());
    }

    #[test]
    fn cjk_words_drop_punctuation_and_add_characters() {
        let words = texts(CjkWords { jieba: JiebaTokenizer::new(), chars: false }, "清明上河图（宋摹本）");
        assert!(words.contains(&"清明".to_owned()) && words.contains(&"清明上河图".to_owned()), "{words:?}");
        assert!(!words.iter().any(|w| w == "（" || w == "）"), "{words:?}");
        assert!(!words.contains(&"清".to_owned()), "{words:?}");
        let chars = texts(CjkWords { jieba: JiebaTokenizer::new(), chars: true }, "清乾隆");
        assert!(chars.contains(&"清".to_owned()) && chars.contains(&"乾隆".to_owned()), "{chars:?}");
        assert_eq!(chars.iter().filter(|w| *w == "清").count(), 1);
    }

    #[test]
    fn ngrams() {
        assert_eq!(texts(CjkNgrams, "青铜 bronze 器"), vec!["青", "青铜", "铜", "器"]);
        assert_eq!(ngram_terms("天青釉"), vec!["天青", "青釉"]);
        assert_eq!(ngram_terms("清"), vec!["清"]);
    }

    #[test]
    fn query_units() {
        let units = units("清明上 Bronze, 故00146651");
        let texts: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
        assert_eq!(texts, vec!["清明", "上", "bronze", "故", "00146651"]);
    }

    #[test]
    fn english_stems_and_folds() {
        assert_eq!(one_term(&mut english(), "Paintings").as_deref(), Some("paint"));
        assert_eq!(one_term(&mut plain(), "Cloisonné").as_deref(), Some("cloisonne"));
    }
}
