//! What a version serves to visitors besides recognition: display
//! renditions of every catalog image and the records' audio guide files,
//! written under the version's `media/`, each named by its content's sha256
//! (see `recognizer::bundle::MediaIndex`). A name therefore never changes
//! meaning, so the server can let clients and CDNs cache it forever, and an
//! unchanged exhibit's files carry over to the next version as they are.
//!
//! Renditions are baseline JPEG, the one format every mini-program image
//! component, browser and CDN image path takes. Sizes and quality were
//! chosen by measurement (BENCHMARKS.md, "Display renditions").

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, RgbImage};
use recognizer::ExhibitRecord;
use recognizer::bundle::{ExhibitMedia, MEDIA_DIR, MediaFile, MediaIndex, Rendition};

use crate::collection::image_path;

/// Long side of the view a phone screen shows (a 3x screen 340 pt wide).
pub const DISPLAY_SIDE: u32 = 1024;
/// Long side of a list thumbnail.
pub const THUMBNAIL_SIDE: u32 = 320;
/// JPEG quality of both renditions.
pub const JPEG_QUALITY: u8 = 82;
/// Largest audio guide file accepted.
pub const MAX_AUDIO_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("image {image} of exhibit {exhibit}: {reason}")]
    Image { exhibit: String, image: String, reason: String },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MediaError {
    let context = context.into();
    move |source| MediaError::Io { context, source }
}

/// Where the media of a version being written come from.
#[derive(Debug, Clone, Copy)]
pub struct MediaSources<'a> {
    /// The folder holding the images and audio of the records to render.
    pub images_dir: &'a Path,
    /// A previous version (its folder and media table) whose files the
    /// exhibits not in `fresh` keep.
    pub carry: Option<(&'a Path, &'a MediaIndex)>,
    /// Exhibits rendered from `images_dir`; `None`: all of them.
    pub fresh: Option<&'a HashSet<String>>,
    /// Of the fresh exhibits, those whose image renditions are `carry`'s
    /// (a change that kept the published images).
    pub kept_images: Option<&'a HashSet<String>>,
    /// Of the fresh exhibits, the languages whose audio guide is `carry`'s.
    pub kept_audio: Option<&'a std::collections::HashMap<String, HashSet<String>>>,
}

impl MediaSources<'_> {
    fn is_fresh(&self, id: &str) -> bool {
        self.fresh.is_none_or(|f| f.contains(id))
    }
}

/// Content type of an audio guide file, by its extension.
pub fn audio_type(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "mp3" => "audio/mpeg",
        "m4a" | "mp4" => "audio/mp4",
        "aac" => "audio/aac",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "webm" => "audio/webm",
        _ => return None,
    })
}

/// Whether the first bytes of a file are what its content type says.
fn sniff_audio(content_type: &str, head: &[u8]) -> bool {
    match content_type {
        // ID3 tag or an MPEG audio frame sync.
        "audio/mpeg" => head.starts_with(b"ID3") || (head.len() > 1 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0),
        "audio/mp4" => head.get(4..8) == Some(b"ftyp"),
        // ADTS frame sync.
        "audio/aac" => head.len() > 1 && head[0] == 0xFF && head[1] & 0xF6 == 0xF0,
        "audio/ogg" => head.starts_with(b"OggS"),
        "audio/wav" => head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE"),
        "audio/webm" => head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
        _ => false,
    }
}

/// A file name that stays inside its folder.
pub fn relative_inside(name: &str) -> Result<&Path, String> {
    let rel = Path::new(name);
    if name.is_empty() || rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
        return Err("path must be relative and stay inside the images folder".into());
    }
    Ok(rel)
}

/// An audio guide entry of a record: a well-formed language tag, a file
/// inside the images folder, of a known audio type (by extension and by its
/// first bytes), not empty and not too large.
pub fn check_audio(dir: &Path, lang: &str, name: &str) -> Result<(), String> {
    if !recognizer::bundle::valid_lang_tag(lang) {
        return Err(format!("`{lang}` is not a language tag (BCP 47, like zh, en or zh-Hant)"));
    }
    let rel = relative_inside(name)?;
    let content_type = audio_type(name).ok_or("not an audio file (mp3, m4a, aac, ogg, opus, wav or webm)")?;
    let path = dir.join(rel);
    let size = std::fs::metadata(&path).map_err(|e| format!("unreadable ({e})"))?.len();
    if size == 0 || size > MAX_AUDIO_BYTES {
        return Err(format!("{size} bytes; an audio guide has 1 byte to {} MiB", MAX_AUDIO_BYTES >> 20));
    }
    let mut head = [0u8; 12];
    let n = std::io::Read::read(&mut std::fs::File::open(&path).map_err(|e| format!("unreadable ({e})"))?, &mut head)
        .map_err(|e| format!("unreadable ({e})"))?;
    if !sniff_audio(content_type, &head[..n]) {
        return Err(format!("its content is not {content_type}"));
    }
    Ok(())
}

/// Writes the media of `records` under `version_dir/media/` and returns
/// their table. Images are rendered on every core.
pub fn write_media(
    version_dir: &Path,
    records: &[ExhibitRecord],
    sources: &MediaSources,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<MediaIndex, MediaError> {
    let media_dir = version_dir.join(MEDIA_DIR);
    std::fs::create_dir_all(&media_dir).map_err(io("creating media dir"))?;
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Rendered)>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<MediaError>> = Mutex::new(None);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(records.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(record) = records.get(i) else { break };
                    if first_error.lock().is_ok_and(|e| e.is_some()) {
                        break;
                    }
                    let outcome = match sources.carry {
                        _ if sources.is_fresh(&record.id) => render_record(&media_dir, sources, record),
                        Some((dir, from)) => match from.exhibits.get(&record.id) {
                            Some(media) => carry(&media_dir, dir, from, media),
                            // A version from before media: nothing to carry.
                            None => Ok((ExhibitMedia::default(), Vec::new())),
                        },
                        None => Ok((ExhibitMedia::default(), Vec::new())),
                    };
                    match outcome {
                        Ok(rendered) => {
                            if let Ok(mut r) = results.lock() {
                                r.push((i, rendered));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut first) = first_error.lock() {
                                first.get_or_insert(e);
                            }
                            break;
                        }
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, records.len());
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut index = MediaIndex::default();
    let results = results.into_inner().unwrap_or_default();
    if results.len() != records.len() {
        return Err(MediaError::Io {
            context: "rendering media".into(),
            source: std::io::Error::other("a worker failed"),
        });
    }
    for (i, (media, files)) in results {
        // Nothing to carry from a version before media: left out, so its
        // cards keep the record's image names as that version served them.
        if media.images.is_empty() && media.audio.is_empty() {
            continue;
        }
        index.exhibits.insert(records[i].id.clone(), media);
        index.files.extend(files);
    }
    Ok(index)
}

type Rendered = (ExhibitMedia, Vec<(String, MediaFile)>);

/// An unchanged exhibit keeps the previous version's files (hard links, or
/// copies across file systems).
fn carry(media_dir: &Path, from_dir: &Path, from: &MediaIndex, media: &ExhibitMedia) -> Result<Rendered, MediaError> {
    let names = media.images.iter().flat_map(|r| [&r.display, &r.thumbnail]).chain(media.audio.values());
    let files = names.map(|name| carry_file(media_dir, from_dir, from, name)).collect::<Result<_, _>>()?;
    Ok((media.clone(), files))
}

/// One file of a previous version, placed in this one's media folder.
fn carry_file(
    media_dir: &Path,
    from_dir: &Path,
    from: &MediaIndex,
    name: &str,
) -> Result<(String, MediaFile), MediaError> {
    let (path, file) =
        from.path(from_dir, name).ok_or_else(|| io(format!("carrying {name}"))(std::io::ErrorKind::NotFound.into()))?;
    place(&path, media_dir, name)?;
    Ok((name.to_owned(), file.clone()))
}

/// Puts a copy of `from` at `dir/name`: a hard link, or across file systems
/// a copy written under a temporary name and renamed. A file already there
/// is the same content (names are content hashes) and is left alone; never
/// copy onto an existing name, which may be a hard link of `from` itself
/// (the published version's file) and would be truncated.
fn place(from: &Path, dir: &Path, name: &str) -> Result<(), MediaError> {
    let to = dir.join(name);
    match std::fs::hard_link(from, &to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => {
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(format!("copying {name}")))?;
            std::io::copy(&mut std::fs::File::open(from).map_err(io(format!("reading {name}")))?, &mut tmp)
                .map_err(io(format!("copying {name}")))?;
            tmp.as_file().sync_all().map_err(io(format!("syncing {name}")))?;
            tmp.persist_noclobber(&to).map_or_else(
                |e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(io(format!("copying {name}"))(e.error))
                    }
                },
                |_| Ok(()),
            )
        }
    }
}

/// A fresh exhibit's media: its images rendered and its audio copied from
/// `images_dir`, except what the change keeps of the published version
/// (`kept_images`, `kept_audio`), which is carried over from it.
fn render_record(media_dir: &Path, sources: &MediaSources, record: &ExhibitRecord) -> Result<Rendered, MediaError> {
    let images_dir = sources.images_dir;
    let published = sources.carry.and_then(|(dir, from)| Some((dir, from, from.exhibits.get(&record.id)?)));
    let mut media = ExhibitMedia::default();
    let mut files = Vec::new();
    let keeps_images = sources.kept_images.is_some_and(|k| k.contains(&record.id));
    match published {
        Some((from_dir, from, before)) if keeps_images => {
            for rendition in &before.images {
                files.push(carry_file(media_dir, from_dir, from, &rendition.display)?);
                files.push(carry_file(media_dir, from_dir, from, &rendition.thumbnail)?);
            }
            media.images = before.images.clone();
        }
        // Kept from a version written before media: it had no renditions.
        None if keeps_images => {}
        _ => {
            for name in &record.images {
                let err =
                    |reason: String| MediaError::Image { exhibit: record.id.clone(), image: name.clone(), reason };
                let image = open_upright(&image_path(images_dir, name)).map_err(err)?;
                let display = fit(&image, DISPLAY_SIDE).map_err(err)?;
                let thumbnail = fit(&display, THUMBNAIL_SIDE).map_err(err)?;
                let (width, height) = display.dimensions();
                let mut names = [String::new(), String::new()];
                for (slot, img) in names.iter_mut().zip([&display, &thumbnail]) {
                    let jpeg = encode_jpeg(img, JPEG_QUALITY).map_err(err)?;
                    let (file_name, file) = store(media_dir, &jpeg, "jpg", "image/jpeg")?;
                    *slot = file_name.clone();
                    files.push((file_name, file));
                }
                let [display, thumbnail] = names;
                media.images.push(Rendition { source: name.clone(), display, thumbnail, width, height });
            }
        }
    }
    let kept_audio = sources.kept_audio.and_then(|k| k.get(&record.id));
    for (lang, name) in &record.audio {
        let before = published.and_then(|(_, _, m)| m.audio.get(lang));
        if kept_audio.is_some_and(|k| k.contains(lang)) {
            // Kept from a version before media: the card keeps the record's name, as then.
            if let (Some(before), Some((from_dir, from, _))) = (before, published) {
                files.push(carry_file(media_dir, from_dir, from, before)?);
                media.audio.insert(lang.clone(), before.clone());
            }
            continue;
        }
        let bytes = std::fs::read(images_dir.join(name)).map_err(io(format!("reading audio {name}")))?;
        let content_type = audio_type(name).unwrap_or("application/octet-stream");
        let ext = Path::new(name).extension().and_then(|e| e.to_str()).unwrap_or("bin").to_ascii_lowercase();
        let (file_name, file) = store(media_dir, &bytes, &ext, content_type)?;
        media.audio.insert(lang.clone(), file_name.clone());
        files.push((file_name, file));
    }
    Ok((media, files))
}

/// Writes `bytes` as `<sha256 prefix>.<ext>` (once: same content, same name).
fn store(media_dir: &Path, bytes: &[u8], ext: &str, content_type: &str) -> Result<(String, MediaFile), MediaError> {
    let sha256 = recognizer::sha256_bytes(bytes);
    let name = format!("{}.{ext}", &sha256[..32]);
    let path = media_dir.join(&name);
    if !path.exists() {
        let mut tmp = tempfile::NamedTempFile::new_in(media_dir).map_err(io("creating a media file"))?;
        tmp.write_all(bytes).map_err(io(format!("writing {name}")))?;
        tmp.as_file().sync_all().map_err(io(format!("syncing {name}")))?;
        tmp.persist(&path).map_err(|e| io(format!("writing {name}"))(e.error))?;
    }
    Ok((name, MediaFile { content_type: content_type.to_owned(), bytes: bytes.len() as u64, sha256 }))
}

/// Decodes an image at full size, turned the way its EXIF orientation says.
pub fn open_upright(path: &Path) -> Result<RgbImage, String> {
    let reader = image::ImageReader::open(path).map_err(|e| e.to_string())?;
    let mut decoder =
        reader.with_guessed_format().map_err(|e| e.to_string())?.into_decoder().map_err(|e| e.to_string())?;
    let orientation = decoder.orientation().map_err(|e| e.to_string())?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The image scaled down (never up) so its long side is at most `side`.
pub fn fit(image: &RgbImage, side: u32) -> Result<RgbImage, String> {
    let (w, h) = image.dimensions();
    let long = w.max(h);
    if long <= side {
        return Ok(image.clone());
    }
    let scale = f64::from(side) / f64::from(long);
    let (tw, th) = (((f64::from(w) * scale).round() as u32).max(1), ((f64::from(h) * scale).round() as u32).max(1));
    let mut dst = Image::new(tw, th, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let src = ImageRef::new(w, h, image.as_raw(), PixelType::U8x3).map_err(|e| e.to_string())?;
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| e.to_string())?;
    RgbImage::from_raw(tw, th, dst.into_vec()).ok_or_else(|| "resize produced a short buffer".into())
}

pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Copies the published version's media of `museum` into `out/<museum>/`,
/// the layout a CDN serves under `media_base_url` (`{base}/{museum}/{name}`).
/// Files already there with the right size are skipped. Returns (copied, skipped).
pub fn export(version_dir: &Path, media: &MediaIndex, museum: &str, out: &Path) -> Result<(usize, usize), MediaError> {
    let dest = out.join(museum);
    std::fs::create_dir_all(&dest).map_err(io(format!("creating {}", dest.display())))?;
    let (mut copied, mut skipped) = (0, 0);
    for (name, file) in &media.files {
        let (from, _) =
            media.path(version_dir, name).ok_or_else(|| io(name.clone())(std::io::ErrorKind::NotFound.into()))?;
        let to: PathBuf = dest.join(name);
        if std::fs::metadata(&to).is_ok_and(|m| m.len() == file.bytes) {
            skipped += 1;
            continue;
        }
        // Under a temporary name first: a CDN origin never serves half a file.
        let _ = std::fs::remove_file(&to);
        place(&from, &dest, name)?;
        copied += 1;
    }
    Ok((copied, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, images: &[&str], audio: &[(&str, &str)]) -> ExhibitRecord {
        let mut r: ExhibitRecord = serde_json::from_value(serde_json::json!({
            "id": id, "museum": "m", "accession_number": id, "title": {"en": id}, "images": images,
        }))
        .unwrap();
        r.audio = audio.iter().map(|(l, n)| (l.to_string(), n.to_string())).collect();
        r
    }

    fn wav() -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        w.extend_from_slice(&[0; 32]);
        w
    }

    #[test]
    fn audio_entries_are_checked_by_tag_place_type_and_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wav"), wav()).unwrap();
        std::fs::write(dir.path().join("fake.mp3"), b"<html>not audio</html>").unwrap();
        std::fs::write(dir.path().join("empty.ogg"), b"").unwrap();
        std::fs::write(dir.path().join("a.txt"), b"ID3").unwrap();
        assert_eq!(check_audio(dir.path(), "zh-Hant", "a.wav"), Ok(()));
        let err = |lang, name| check_audio(dir.path(), lang, name).unwrap_err();
        assert!(err("zh_CN", "a.wav").contains("language tag"));
        assert!(err("en", "../a.wav").contains("inside"));
        assert!(err("en", "/etc/a.wav").contains("inside"));
        assert!(err("en", "a.txt").contains("not an audio file"));
        assert!(err("en", "fake.mp3").contains("is not audio/mpeg"));
        assert!(err("en", "empty.ogg").contains("0 bytes"));
        assert!(err("en", "missing.wav").contains("unreadable"));
    }

    #[test]
    fn renditions_fit_their_sides_and_unchanged_exhibits_carry_over() {
        let src = tempfile::tempdir().unwrap();
        image::RgbImage::from_fn(2000, 1000, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 90]))
            .save(src.path().join("big.png"))
            .unwrap();
        image::RgbImage::from_pixel(200, 300, image::Rgb([10, 200, 30])).save(src.path().join("small.png")).unwrap();
        std::fs::write(src.path().join("a.wav"), wav()).unwrap();
        let records =
            vec![record("a", &["big.png", "small.png"], &[("en", "a.wav")]), record("b", &["small.png"], &[])];
        let v1 = tempfile::tempdir().unwrap();
        let all =
            MediaSources { images_dir: src.path(), carry: None, fresh: None, kept_images: None, kept_audio: None };
        let table = write_media(v1.path(), &records, &all, &|_, _| {}).unwrap();
        let a = &table.exhibits["a"];
        assert_eq!((a.images[0].width, a.images[0].height), (DISPLAY_SIDE, 512));
        let thumb = image::open(v1.path().join(MEDIA_DIR).join(&a.images[0].thumbnail)).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (THUMBNAIL_SIDE, 160));
        // Never scaled up; the same picture twice is one file.
        assert_eq!((a.images[1].width, a.images[1].height), (200, 300));
        assert_eq!(a.images[1].display, table.exhibits["b"].images[0].display);
        assert_eq!(table.files[&a.audio["en"]].content_type, "audio/wav");
        for (name, f) in &table.files {
            let bytes = std::fs::read(v1.path().join(MEDIA_DIR).join(name)).unwrap();
            assert_eq!((bytes.len() as u64, recognizer::sha256_bytes(&bytes)), (f.bytes, f.sha256.clone()));
            assert!(name.starts_with(&f.sha256[..32]));
        }

        // Only `b` changes (another picture); `a` keeps its files even though
        // its sources are not in the new images folder.
        let src2 = tempfile::tempdir().unwrap();
        image::RgbImage::from_pixel(400, 400, image::Rgb([1, 2, 3])).save(src2.path().join("small.png")).unwrap();
        let v2 = tempfile::tempdir().unwrap();
        let fresh = HashSet::from(["b".to_owned()]);
        let change = MediaSources {
            images_dir: src2.path(),
            carry: Some((v1.path(), &table)),
            fresh: Some(&fresh),
            kept_images: None,
            kept_audio: None,
        };
        let next = write_media(v2.path(), &records, &change, &|_, _| {}).unwrap();
        assert_eq!(next.exhibits["a"], table.exhibits["a"]);
        assert_ne!(next.exhibits["b"], table.exhibits["b"]);
        for name in next.files.keys() {
            assert!(v2.path().join(MEDIA_DIR).join(name).is_file(), "{name}");
        }
        // Carried twice over (threads racing on shared names): the published files stay whole.
        let v3 = tempfile::tempdir().unwrap();
        let none = HashSet::new();
        let keep = MediaSources {
            images_dir: src2.path(),
            carry: Some((v2.path(), &next)),
            fresh: Some(&none),
            kept_images: None,
            kept_audio: None,
        };
        assert_eq!(write_media(v3.path(), &records, &keep, &|_, _| {}).unwrap(), next);
        for (name, f) in &next.files {
            assert_eq!(std::fs::metadata(v2.path().join(MEDIA_DIR).join(name)).unwrap().len(), f.bytes);
        }
        // From a version written before media: nothing to carry, so no entry
        // (its cards keep the record's image names).
        let before = MediaIndex::default();
        let old = MediaSources {
            images_dir: src2.path(),
            carry: Some((v1.path(), &before)),
            fresh: Some(&fresh),
            kept_images: None,
            kept_audio: None,
        };
        let v4 = tempfile::tempdir().unwrap();
        let mixed = write_media(v4.path(), &records, &old, &|_, _| {}).unwrap();
        assert!(!mixed.exhibits.contains_key("a") && mixed.exhibits.contains_key("b"));
        let out = tempfile::tempdir().unwrap();
        assert_eq!(export(v2.path(), &next, "m", out.path()).unwrap(), (next.files.len(), 0));
        assert_eq!(export(v2.path(), &next, "m", out.path()).unwrap(), (0, next.files.len()));
    }

    #[test]
    fn a_broken_image_fails_the_write_naming_it() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("bad.jpg"), b"not a jpeg").unwrap();
        let v = tempfile::tempdir().unwrap();
        let sources =
            MediaSources { images_dir: src.path(), carry: None, fresh: None, kept_images: None, kept_audio: None };
        let err = write_media(v.path(), &[record("x", &["bad.jpg"], &[])], &sources, &|_, _| {}).unwrap_err();
        assert!(matches!(err, MediaError::Image { ref exhibit, .. } if exhibit == "x"), "{err}");
    }
}
