//! Exhibit cards: a record rendered in the visitor's language, the way a guide
//! would present it. Text falls back requested -> zh -> en -> any.

use recognizer::ExhibitRecord;
use recognizer::bundle::LangText;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExhibitCard {
    pub id: String,
    pub museum: String,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio_url: Option<String>,
    pub images: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<String>,
}

/// `lang` as a request parameter: a supported language, or the API's error.
pub fn lang_param(lang: Option<&str>) -> Result<&'static str, crate::error::ApiError> {
    parse_lang(lang)
        .ok_or_else(|| crate::error::ApiError::InvalidParameter { name: "lang", reason: "use zh or en".into() })
}

/// Supported answer languages; anything else is refused at the edge. Absent
/// means `zh`; present, it is `zh` or `en` in any case, optionally with
/// subtags (`en-US`, `zh-Hans-CN`): exactly the `Lang` pattern of
/// `openapi.json`, `^([Zz][Hh]|[Ee][Nn])(-[0-9A-Za-z]{1,8})*$`. An empty
/// value is not a language.
pub fn parse_lang(lang: Option<&str>) -> Option<&'static str> {
    let Some(lang) = lang else { return Some("zh") };
    let mut parts = lang.split('-');
    let primary = match parts.next() {
        Some(p) if p.eq_ignore_ascii_case("zh") => "zh",
        Some(p) if p.eq_ignore_ascii_case("en") => "en",
        _ => return None,
    };
    parts.all(|t| (1..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(primary)
}

pub fn pick(text: &LangText, lang: &str) -> Option<String> {
    [lang, "zh", "en"]
        .iter()
        .find_map(|l| text.get(*l))
        .or_else(|| text.values().next())
        .filter(|s| !s.trim().is_empty())
        .cloned()
}

/// An image name as a URL under `media_base` (`{base}/{museum}/{name}`); names
/// that are already URLs, or an empty base, are left as they are.
pub fn media_url(media_base: &str, museum: &str, name: &str) -> String {
    if media_base.is_empty() || name.starts_with("http://") || name.starts_with("https://") {
        return name.to_owned();
    }
    format!("{}/{museum}/{name}", media_base.trim_end_matches('/'))
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
}

/// The card's list-sized part (same language fallback, same image URLs).
pub fn summary(record: &ExhibitRecord, lang: &str, media_base: &str) -> ExhibitSummary {
    let c = card(record, lang, media_base);
    ExhibitSummary {
        id: c.id,
        museum: c.museum,
        title: c.title,
        period: c.period,
        maker: c.maker,
        gallery: c.gallery,
        image: c.images.into_iter().next(),
    }
}

pub fn card(record: &ExhibitRecord, lang: &str, media_base: &str) -> ExhibitCard {
    ExhibitCard {
        id: record.id.clone(),
        museum: record.museum.clone(),
        accession_number: record.accession_number.clone(),
        title: pick(&record.title, lang).unwrap_or_else(|| record.accession_number.clone()),
        object_type: record.object_type.clone(),
        period: pick(&record.period, lang),
        date: record.date.as_ref().and_then(|d| pick(&d.display, lang)),
        maker: pick(&record.maker, lang),
        material: pick(&record.material, lang),
        dimensions: record.dimensions.clone(),
        gallery: pick(&record.gallery, lang),
        introduction: pick(&record.description, lang),
        audio_url: record.audio_url.clone(),
        images: record.images.iter().map(|n| media_url(media_base, &record.museum, n)).collect(),
        related: record.related.clone(),
        rights: record.rights.clone(),
    }
}

/// What a visitor can do when nothing matched.
pub fn no_match_tips(lang: &str) -> Vec<&'static str> {
    if lang == "en" {
        vec![
            "Step closer so the exhibit fills most of the photo.",
            "Avoid reflections: shoot the glass at a slight angle, without flash.",
            "Hold still and make sure the exhibit is in focus and well lit.",
        ]
    } else {
        vec![
            "走近一些，让展品占满大部分画面。",
            "避开反光：稍微侧一点角度拍摄展柜玻璃，不要开闪光灯。",
            "拿稳手机，确保展品清晰、光线充足。",
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ExhibitRecord {
        serde_json::from_str(
            r#"{"id":"x","museum":"m","accession_number":"A1","title":{"zh":"瓶","en":"Vase"},
                "description":{"zh":"介绍"},"images":["x.jpg"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn language_falls_back_to_what_the_record_has() {
        let en = card(&record(), "en", "");
        assert_eq!(en.title, "Vase");
        assert_eq!(en.introduction.as_deref(), Some("介绍"));
        assert_eq!(card(&record(), "zh", "https://cdn.example/media/").title, "瓶");
        assert_eq!(en.period, None);
        assert_eq!(en.images, ["x.jpg"]);
        assert_eq!(card(&record(), "zh", "https://cdn.example/media/").images, ["https://cdn.example/media/m/x.jpg"]);
    }

    #[test]
    fn languages_are_parsed_strictly() {
        assert_eq!(parse_lang(None), Some("zh"));
        assert_eq!(parse_lang(Some("en-US")), Some("en"));
        assert_eq!(parse_lang(Some("ZH")), Some("zh"));
        assert_eq!(parse_lang(Some("fr")), None);
        assert_eq!(parse_lang(Some("zh-Hans-CN")), Some("zh"));
        for bad in ["", " ", " zh", "en ", "zh-", "en--US", "zh_CN", "english", "en-toolongtag"] {
            assert_eq!(parse_lang(Some(bad)), None, "{bad:?}");
        }
    }
}
