//! Exhibit cards: a record rendered in the visitor's language, the way a guide
//! would present it, with absolute URLs of its pictures and audio.
//!
//! Languages: records carry any language (`LangText` maps keyed by BCP 47
//! tags) and `lang` takes any well-formed tag. A card is in the first
//! language of the chain *requested -> the museum's default -> `zh` -> `en`*
//! that its title has (each step also tried shorter, `zh-Hant-TW` ->
//! `zh-Hant` -> `zh`, and matching longer record tags, `zh` -> `zh-Hans`),
//! else in any language it has; the card says which (`lang`). Each other
//! field follows the same chain from the card's language, so a card mixes
//! languages only where the record lacks a text in its own.

use std::cell::RefCell;
use std::collections::HashMap;

use actix_web::HttpRequest;
use recognizer::bundle::{ExhibitMedia, LangText};
use recognizer::{Bundle, ExhibitRecord};
use serde::Serialize;

use crate::state::AppState;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExhibitCard {
    pub id: String,
    pub museum: String,
    /// The language tag the card's text is in (see the module doc).
    pub lang: String,
    pub accession_number: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gallery: Option<String>,
    /// The guide-style introduction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introduction: Option<String>,
    /// The audio guide in the card's language (or the nearest in the chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_url: Option<String>,
    /// Display pictures (long side at most 1024 px), the primary first.
    pub images: Vec<String>,
    /// The same pictures for lists (long side at most 320 px), same order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thumbnails: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<String>,
}

/// A short entry for lists (search results, history, related exhibits).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExhibitSummary {
    pub id: String,
    pub museum: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gallery: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// The language a visitor asked for (absent: the museum's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lang(Option<String>);

/// `lang` as a request parameter: any well-formed BCP 47 tag (exactly the
/// `Lang` pattern of `openapi.json`, `^[A-Za-z]{2,8}(-[0-9A-Za-z]{1,8})*$`),
/// or the API's error.
pub fn lang_param(lang: Option<&str>) -> Result<Lang, crate::error::ApiError> {
    parse_lang(lang).ok_or_else(|| crate::error::ApiError::InvalidParameter {
        name: "lang",
        reason: "a language tag (BCP 47), like zh, en, ja or zh-Hant".into(),
    })
}

pub fn parse_lang(lang: Option<&str>) -> Option<Lang> {
    match lang {
        None => Some(Lang(None)),
        Some(tag) => recognizer::bundle::valid_lang_tag(tag).then(|| Lang(Some(tag.to_owned()))),
    }
}

impl Lang {
    /// The fallback chain: requested (and its shorter forms) -> the
    /// museum's default (and its shorter forms) -> `zh` -> `en`, without
    /// repeats.
    pub fn chain(&self, museum_default: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for tag in [self.0.as_deref(), museum_default, Some("zh"), Some("en")].into_iter().flatten() {
            let mut tag = tag.to_ascii_lowercase();
            loop {
                if !out.contains(&tag) {
                    out.push(tag.clone());
                }
                match tag.rfind('-') {
                    Some(i) => tag.truncate(i),
                    None => break,
                }
            }
        }
        out
    }
}

/// The entry of `text` for the first language of `chain` it has: exact tag
/// (any case) first, else a longer tag of that language (`zh` finds
/// `zh-Hans`); else any non-empty entry. Returns (tag, text).
pub fn pick<'a>(text: &'a LangText, chain: &[String]) -> Option<(&'a str, &'a str)> {
    let usable = |(k, v): (&'a String, &'a String)| (!v.trim().is_empty()).then_some((k.as_str(), v.as_str()));
    chain
        .iter()
        .find_map(|want| {
            let prefix = format!("{want}-");
            text.iter()
                .filter_map(usable)
                .find(|(k, _)| k.eq_ignore_ascii_case(want))
                .or_else(|| text.iter().filter_map(usable).find(|(k, _)| k.to_ascii_lowercase().starts_with(&prefix)))
        })
        .or_else(|| text.iter().find_map(usable))
}

fn text(text: &LangText, chain: &[String]) -> Option<String> {
    pick(text, chain).map(|(_, t)| t.to_owned())
}

/// An image name as a URL under `media_base` (`{base}/{museum}/{name}`); names
/// that are already URLs, or an empty base, are left as they are.
pub fn media_url(media_base: &str, museum: &str, name: &str) -> String {
    if media_base.is_empty() || name.starts_with("http://") || name.starts_with("https://") {
        return name.to_owned();
    }
    format!("{}/{museum}/{name}", media_base.trim_end_matches('/'))
}

/// Renders cards for one request: its language, where its media URLs point
/// (the configured `media_base_url`, else this server's `/media` as the
/// client reached it), and each museum's default language (looked up once).
#[derive(Debug)]
pub struct View<'a> {
    lang: Lang,
    state: &'a AppState,
    /// Base of the bundle media URLs.
    media: String,
    defaults: RefCell<HashMap<String, Option<String>>>,
}

impl<'a> View<'a> {
    pub fn new(state: &'a AppState, req: &HttpRequest, lang: Lang) -> Self {
        let configured = &state.settings.server.media_base_url;
        let media = match configured.is_empty() {
            false => configured.trim_end_matches('/').to_owned(),
            true => format!("{}/media", request_origin(req, state.settings.limits.trust_forwarded_for)),
        };
        Self { lang, state, media, defaults: RefCell::default() }
    }

    /// Where this request's media URLs point (no trailing slash).
    pub fn media_base(&self) -> &str {
        &self.media
    }

    /// The museum's default language (its admin profile's), if it has one.
    pub fn museum_default(&self, museum: &str) -> Option<String> {
        self.defaults
            .borrow_mut()
            .entry(museum.to_owned())
            .or_insert_with(|| self.state.registry.museum(museum).ok().flatten().and_then(|p| p.default_lang))
            .clone()
    }

    pub fn chain(&self, museum: &str) -> Vec<String> {
        self.lang.chain(self.museum_default(museum).as_deref())
    }

    pub fn card(&self, bundle: &Bundle, record: &ExhibitRecord) -> ExhibitCard {
        let media = bundle.media.exhibits.get(&record.id);
        let legacy = &self.state.settings.server.media_base_url;
        card(record, media, self.chain(&record.museum), &self.media, legacy)
    }

    /// The card's list-sized part (same language, same URLs).
    pub fn summary(&self, bundle: &Bundle, record: &ExhibitRecord) -> ExhibitSummary {
        let c = self.card(bundle, record);
        ExhibitSummary {
            id: c.id,
            museum: c.museum,
            title: c.title,
            period: c.period,
            maker: c.maker,
            gallery: c.gallery,
            image: c.images.into_iter().next(),
            thumbnail: c.thumbnails.into_iter().next(),
        }
    }

    /// What a visitor can do when nothing matched, in the language of the
    /// chain (for the museum asked about, if one was) that has tips.
    pub fn tips(&self, museum: Option<&str>) -> Vec<&'static str> {
        let chain = self.lang.chain(museum.and_then(|m| self.museum_default(m)).as_deref());
        chain.iter().find_map(|l| TIPS.iter().find(|(tag, _)| tag == l)).map_or_else(Vec::new, |(_, t)| t.to_vec())
    }
}

/// `record`'s card in the first language of `chain` its title has (see the
/// module doc), its media as URLs under `media_base`. Without `media` (a
/// version written before media), image names go under `legacy_base` as
/// they did then.
pub fn card(
    record: &ExhibitRecord,
    media: Option<&ExhibitMedia>,
    mut chain: Vec<String>,
    media_base: &str,
    legacy_base: &str,
) -> ExhibitCard {
    let (lang, title) = match pick(&record.title, &chain) {
        Some((lang, title)) => (lang.to_owned(), title.to_owned()),
        None => (chain.first().cloned().unwrap_or_default(), record.accession_number.clone()),
    };
    // The card's own language first, so its fields agree where they can.
    chain.retain(|l| !l.eq_ignore_ascii_case(&lang));
    chain.insert(0, lang.to_ascii_lowercase());
    let url = |name: &str| format!("{media_base}/{}/{name}", record.museum);
    let (images, thumbnails, audio) = match media {
        Some(m) => (
            m.images.iter().map(|r| url(&r.display)).collect(),
            m.images.iter().map(|r| url(&r.thumbnail)).collect(),
            pick(&m.audio, &chain).map(|(_, name)| url(name)),
        ),
        None => (record.images.iter().map(|n| media_url(legacy_base, &record.museum, n)).collect(), Vec::new(), None),
    };
    ExhibitCard {
        id: record.id.clone(),
        museum: record.museum.clone(),
        lang,
        accession_number: record.accession_number.clone(),
        title,
        object_type: record.object_type.clone(),
        period: text(&record.period, &chain),
        date: record.date.as_ref().and_then(|d| text(&d.display, &chain)),
        maker: text(&record.maker, &chain),
        material: text(&record.material, &chain),
        dimensions: record.dimensions.clone(),
        gallery: text(&record.gallery, &chain),
        introduction: text(&record.description, &chain),
        audio_url: audio.or_else(|| record.audio_url.clone()),
        images,
        thumbnails,
        related: record.related.clone(),
        rights: record.rights.clone(),
    }
}

/// `scheme://host` as the client reached this server: from the `Host`
/// header (and `X-Forwarded-Proto`/`-Host` only behind a trusted proxy);
/// a header that is not a plain host\[:port\] is ignored.
fn request_origin(req: &HttpRequest, trust_proxy: bool) -> String {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let plain = |h: &&str| {
        !h.is_empty() && h.len() <= 255 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    let forwarded =
        |name| if trust_proxy { header(name).and_then(|v| v.split(',').next()).map(str::trim) } else { None };
    let scheme = match forwarded("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        _ if req.app_config().secure() => "https",
        _ => "http",
    };
    let host = forwarded("x-forwarded-host")
        .filter(plain)
        .or_else(|| header("host").filter(plain))
        .map_or_else(|| req.app_config().host().to_owned(), str::to_owned);
    format!("{scheme}://{host}")
}

/// No-match tips by language.
const TIPS: [(&str, [&str; 3]); 5] = [
    (
        "zh",
        [
            "走近一些，让展品占满大部分画面。",
            "避开反光：稍微侧一点角度拍摄展柜玻璃，不要开闪光灯。",
            "拿稳手机，确保展品清晰、光线充足。",
        ],
    ),
    (
        "en",
        [
            "Step closer so the exhibit fills most of the photo.",
            "Avoid reflections: shoot the glass at a slight angle, without flash.",
            "Hold still and make sure the exhibit is in focus and well lit.",
        ],
    ),
    (
        "ja",
        [
            "展示品が画面の大部分を占めるように近づいてください。",
            "反射を避けるため、ガラスに対して少し斜めから、フラッシュなしで撮影してください。",
            "手ぶれに注意し、展示品にピントが合い明るく写るようにしてください。",
        ],
    ),
    (
        "ko",
        [
            "전시품이 화면 대부분을 채우도록 더 가까이 다가가세요.",
            "반사를 피하려면 유리를 약간 비스듬히, 플래시 없이 촬영하세요.",
            "흔들리지 않게 잡고 전시품에 초점이 맞고 밝게 찍히도록 하세요.",
        ],
    ),
    (
        "fr",
        [
            "Approchez-vous pour que l'œuvre occupe la plus grande partie de la photo.",
            "Évitez les reflets : photographiez la vitrine légèrement de biais, sans flash.",
            "Restez immobile et vérifiez que l'œuvre est nette et bien éclairée.",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ExhibitRecord {
        serde_json::from_str(
            r#"{"id":"x","museum":"m","accession_number":"A1","title":{"zh":"瓶","en":"Vase","ja":"花瓶"},
                "period":{"zh":"清","en":"Qing"},"description":{"zh":"介绍"},"images":["x.jpg"]}"#,
        )
        .unwrap()
    }

    fn chain(lang: Option<&str>, default: Option<&str>) -> Vec<String> {
        parse_lang(lang).unwrap().chain(default)
    }

    #[test]
    fn the_chain_is_requested_then_the_museum_default_then_zh_then_en() {
        assert_eq!(chain(Some("zh-Hant-TW"), Some("fr")), ["zh-hant-tw", "zh-hant", "zh", "fr", "en"]);
        assert_eq!(chain(None, Some("ko")), ["ko", "zh", "en"]);
        assert_eq!(chain(Some("EN-gb"), None), ["en-gb", "en", "zh"]);
    }

    #[test]
    fn a_card_says_its_language_and_falls_back_field_by_field() {
        let ja = card(&record(), None, chain(Some("ja-JP"), None), "https://h/media", "");
        assert_eq!((ja.lang.as_str(), ja.title.as_str()), ("ja", "花瓶"));
        // No Japanese period or introduction: the chain's next language, zh.
        assert_eq!(ja.period.as_deref(), Some("清"));
        assert_eq!(ja.introduction.as_deref(), Some("介绍"));
        let en = card(&record(), None, chain(Some("en"), None), "https://h/media", "");
        assert_eq!((en.lang.as_str(), en.title.as_str(), en.period.as_deref()), ("en", "Vase", Some("Qing")));
        assert_eq!(en.introduction.as_deref(), Some("介绍"), "only the zh introduction exists");
        // A language the record lacks: the museum's default, then zh.
        assert_eq!(card(&record(), None, chain(Some("fr"), Some("en")), "", "").lang, "en");
        assert_eq!(card(&record(), None, chain(Some("fr"), None), "", "").lang, "zh");
    }

    #[test]
    fn a_shorter_request_finds_a_longer_record_tag() {
        let mut r = record();
        r.title = [("zh-Hant".to_owned(), "花瓶".to_owned()), ("en".to_owned(), "Vase".to_owned())].into();
        let c = card(&r, None, chain(Some("zh"), None), "", "");
        assert_eq!((c.lang.as_str(), c.title.as_str()), ("zh-Hant", "花瓶"));
    }

    #[test]
    fn media_become_urls_under_the_base() {
        let media = ExhibitMedia {
            images: vec![recognizer::bundle::Rendition {
                source: "x.jpg".into(),
                display: "d.jpg".into(),
                thumbnail: "t.jpg".into(),
                width: 10,
                height: 10,
            }],
            audio: [("en".to_owned(), "a.wav".to_owned()), ("zh".to_owned(), "b.wav".to_owned())].into(),
        };
        let c = card(&record(), Some(&media), chain(Some("en"), None), "https://h/media", "");
        assert_eq!(c.images, ["https://h/media/m/d.jpg"]);
        assert_eq!(c.thumbnails, ["https://h/media/m/t.jpg"]);
        assert_eq!(c.audio_url.as_deref(), Some("https://h/media/m/a.wav"));
        let ja = card(&record(), Some(&media), chain(Some("ja"), None), "https://h/media", "");
        assert_eq!(ja.audio_url.as_deref(), Some("https://h/media/m/b.wav"), "no ja audio: zh, as the chain says");
        // A version without media keeps the names, under the configured base if any.
        assert_eq!(card(&record(), None, chain(None, None), "https://h/media", "").images, ["x.jpg"]);
        assert_eq!(card(&record(), None, chain(None, None), "", "https://cdn/m").images, ["https://cdn/m/m/x.jpg"]);
    }

    #[test]
    fn languages_are_parsed_as_bcp47_tags() {
        assert_eq!(parse_lang(None), Some(Lang(None)));
        for good in ["en-US", "ZH", "fr", "zh-Hans-CN", "ja", "ast", "de-CH-1996"] {
            assert!(parse_lang(Some(good)).is_some(), "{good:?}");
        }
        for bad in ["", " ", " zh", "en ", "zh-", "en--US", "zh_CN", "e", "en-toolongtag", "12", "français"] {
            assert_eq!(parse_lang(Some(bad)), None, "{bad:?}");
        }
    }
}
