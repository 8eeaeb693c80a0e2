//! IIIF Presentation 3 manifests as exhibit records.
//!
//! One manifest describes one object: `label` and `summary` are language maps
//! (`{"en": ["..."]}`), `metadata` is a list of label/value pairs in the same
//! shape, `requiredStatement`/`rights` carry the credit line and licence, and
//! each canvas paints one image: an annotation body with its own URL, or an
//! IIIF Image API service from which a 1024 px rendition is requested
//! (`{service}/full/!1024,1024/0/default.jpg`).

use recognizer::bundle::LangText;
use serde_json::{Value, json};

/// Turns a manifest into a record (JSON, in the shape `load_collection`
/// reads), or says why it cannot.
pub fn manifest_to_record(manifest: &Value, museum: &str) -> Result<Value, String> {
    let kind = manifest.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "Manifest" {
        return Err(format!("not a IIIF Presentation 3 Manifest (type `{kind}`)"));
    }
    let id_url = manifest.get("id").and_then(Value::as_str).ok_or("manifest has no id")?;
    let title = lang_map(manifest.get("label"));
    let mut record = json!({
        "museum": museum,
        "title": title,
        "description": lang_map(manifest.get("summary")),
        "images": images(manifest),
    });
    let mut accession = None;
    for pair in manifest.get("metadata").and_then(Value::as_array).into_iter().flatten() {
        let label = lang_map(pair.get("label"));
        let value = lang_map(pair.get("value"));
        let Some(name) = label.get("en").or_else(|| label.values().next()).map(|s| s.to_lowercase()) else { continue };
        let first = value.get("en").or_else(|| value.values().next()).cloned().unwrap_or_default();
        let field = match name.as_str() {
            "accession number" | "object number" | "inventory number" | "identifier" => {
                accession = Some(first.clone());
                continue;
            }
            "maker" | "artist" | "creator" | "author" => "maker",
            "period" | "dynasty" => "period",
            "culture" | "place" | "origin" => "culture",
            "material" | "medium" | "materials" | "technique" => "material",
            "gallery" | "location" => "gallery",
            "object type" | "type" | "classification" => {
                record["object_type"] = json!(first);
                continue;
            }
            "dimensions" => {
                record["dimensions"] = json!(first);
                continue;
            }
            "date" => {
                record["date"] = json!({ "display": value });
                continue;
            }
            _ => continue,
        };
        record[field] = json!(value);
    }
    let rights = manifest.get("rights").and_then(Value::as_str).map(str::to_owned).or_else(|| {
        let statement = lang_map(manifest.get("requiredStatement").and_then(|r| r.get("value")));
        statement.get("en").or_else(|| statement.values().next()).cloned()
    });
    if let Some(r) = rights {
        record["rights"] = json!(r);
    }
    // The manifest URL's last path segment is the usual object identifier.
    let tail = id_url.trim_end_matches('/').trim_end_matches("/manifest.json").trim_end_matches("/manifest");
    let tail = tail.rsplit('/').next().unwrap_or(tail);
    let id: String =
        tail.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
    let id =
        if id.trim_matches('-').is_empty() { recognizer::sha256_bytes(id_url.as_bytes())[..16].to_owned() } else { id };
    record["accession_number"] = json!(accession.unwrap_or_else(|| id.clone()));
    record["id"] = json!(id);
    Ok(record)
}

/// A IIIF language map (`{"en": ["a", "b"]}`, or a plain string) as one text per language.
fn lang_map(v: Option<&Value>) -> LangText {
    let mut out = LangText::new();
    match v {
        Some(Value::Object(map)) => {
            for (lang, values) in map {
                let text = match values {
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "),
                    Value::String(s) => s.clone(),
                    _ => continue,
                };
                // `none` is IIIF's "no language": treat it as the default text.
                let lang = if lang == "none" { "en" } else { lang.as_str() };
                if !text.trim().is_empty() {
                    out.entry(lang.to_owned()).or_insert(text);
                }
            }
        }
        Some(Value::String(s)) if !s.trim().is_empty() => {
            out.insert("en".into(), s.clone());
        }
        _ => {}
    }
    out
}

/// One image URL per canvas, from its painting annotation's body.
fn images(manifest: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for canvas in manifest.get("items").and_then(Value::as_array).into_iter().flatten() {
        let bodies = canvas
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|page| page.get("items").and_then(Value::as_array).into_iter().flatten())
            .filter(|anno| anno.get("motivation").and_then(Value::as_str).unwrap_or("painting") == "painting")
            .filter_map(|anno| anno.get("body"));
        for body in bodies {
            let body = if let Value::Array(choices) = body { choices.first().unwrap_or(body) } else { body };
            if let Some(url) = image_url(body) {
                out.push(url);
                break;
            }
        }
    }
    out
}

fn image_url(body: &Value) -> Option<String> {
    let services = match body.get("service") {
        Some(Value::Array(s)) => s.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => Vec::new(),
    };
    for service in &services {
        let kind = service.get("type").or_else(|| service.get("@type")).and_then(Value::as_str).unwrap_or("");
        if kind.starts_with("ImageService") {
            let base = service.get("id").or_else(|| service.get("@id")).and_then(Value::as_str)?;
            return Some(format!("{}/full/!1024,1024/0/default.jpg", base.trim_end_matches('/')));
        }
    }
    body.get("id").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_becomes_a_record() {
        let manifest = json!({
            "@context": "http://iiif.io/api/presentation/3/context.json",
            "id": "https://museum.example/iiif/obj-17/manifest",
            "type": "Manifest",
            "label": { "en": ["Blue and white vase"], "zh": ["青花瓶"] },
            "summary": { "en": ["A vase."] },
            "metadata": [
                { "label": { "en": ["Accession number"] }, "value": { "none": ["1923.45"] } },
                { "label": { "en": ["Date"] }, "value": { "en": ["1403-1424"] } },
                { "label": { "en": ["Medium"] }, "value": { "en": ["Porcelain"] } }
            ],
            "rights": "http://creativecommons.org/licenses/by/4.0/",
            "items": [
                { "id": "c1", "type": "Canvas", "items": [ { "type": "AnnotationPage", "items": [
                    { "type": "Annotation", "motivation": "painting", "body": {
                        "id": "https://img.example/full.jpg", "type": "Image",
                        "service": [{ "id": "https://img.example/iiif/obj17", "type": "ImageService3" }] } } ] } ] },
                { "id": "c2", "type": "Canvas", "items": [ { "type": "AnnotationPage", "items": [
                    { "type": "Annotation", "motivation": "painting",
                      "body": { "id": "https://img.example/back.jpg", "type": "Image" } } ] } ] }
            ]
        });
        let r = manifest_to_record(&manifest, "m").unwrap();
        assert_eq!(r["id"], "obj-17");
        assert_eq!(r["accession_number"], "1923.45");
        assert_eq!(r["title"]["zh"], "青花瓶");
        assert_eq!(r["material"]["en"], "Porcelain");
        assert_eq!(r["date"]["display"]["en"], "1403-1424");
        assert_eq!(r["rights"], "http://creativecommons.org/licenses/by/4.0/");
        assert_eq!(
            r["images"],
            json!(["https://img.example/iiif/obj17/full/!1024,1024/0/default.jpg", "https://img.example/back.jpg"])
        );
        assert!(manifest_to_record(&json!({"type": "Collection"}), "m").is_err());
    }
}
