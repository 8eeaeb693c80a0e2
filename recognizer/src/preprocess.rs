//! Image decoding under limits, and conversion of images into model input.
//!
//! Decoding checks the header's dimensions before allocating pixels, so a
//! decompression bomb is refused cheaply. EXIF orientation is applied, since
//! phones store portrait photos as rotated landscape pixels.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use opencv::core::{self, Mat};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

use crate::model::{ChannelOrder, InputSpec, Layout};
use crate::{Error, Result};

/// Bounds on what [`decode_image`] accepts.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest width x height accepted (checked from the header, before decoding).
    pub max_pixels: u64,
    /// Smallest accepted side, in pixels.
    pub min_side: u32,
    /// JPEGs whose long side is at least twice this are decoded at the
    /// smallest reduced DCT scale (1/2, 1/4, 1/8) whose long side is still at
    /// least this (OpenCV's `IMREAD_REDUCED_COLOR_*`); 0 decodes full size. The pipeline never looks at more than ~640 px, and
    /// a 12 MP photo decodes several times faster at 1/4 scale. 800 keeps
    /// every phone photo (>= 1600 px) above the 640 px the local stage uses.
    pub reduce_to: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 40 MP covers every phone camera in use; 32 px is too little to recognise.
        Self { max_pixels: 40_000_000, min_side: 32, reduce_to: 800 }
    }
}

/// Decodes JPEG/PNG/WebP/GIF/BMP bytes into an upright RGB image.
///
/// JPEGs that [`DecodeLimits::reduce_to`] lets decode at a reduced DCT scale
/// are decoded by OpenCV (libjpeg-turbo's scaled IDCT); everything else by
/// the `image` crate (zune-jpeg for full-size JPEGs: about twice as fast as
/// OpenCV there, BENCHMARKS.md). Either way the dimensions are read from the
/// header first (the `image` crate's header parser, which allocates no
/// pixels) and checked against the limits, and the EXIF orientation is
/// applied here, once, for every format.
pub fn decode_image(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage> {
    let invalid = |e: image::ImageError| Error::InvalidImage { reason: e.to_string() };
    if bytes.is_empty() {
        return Err(Error::InvalidImage { reason: "empty file".into() });
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::InvalidImage { reason: e.to_string() })?;
    let Some(format) = reader.format() else {
        return Err(Error::InvalidImage { reason: "unrecognised image format".into() });
    };
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Error::ImageTooLarge { width, height, max_pixels: limits.max_pixels });
    }
    if width.min(height) < limits.min_side {
        return Err(Error::ImageTooSmall { width, height, min_side: limits.min_side });
    }
    let orientation = decoder.orientation().map_err(invalid)?;
    let denominator = jpeg_scale(width, height, limits);
    let mut image = if format == ImageFormat::Jpeg && denominator > 1 {
        drop(decoder);
        DynamicImage::ImageRgb8(decode_jpeg(bytes, denominator, width, height)?)
    } else {
        DynamicImage::from_decoder(decoder).map_err(invalid)?
    };
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// The DCT scale denominator (1, 2, 4 or 8) a `width` x `height` JPEG is
/// decoded at: the largest `d` with the long side / `d` still at least
/// `reduce_to` (so reduction starts at twice `reduce_to`) and the short
/// side / `d` still at least `min_side` (a panorama's short side is not
/// reduced below what the limits accept; found by the hostile-input tests);
/// 1 when `reduce_to` is 0.
fn jpeg_scale(width: u32, height: u32, limits: DecodeLimits) -> u32 {
    if limits.reduce_to == 0 {
        return 1;
    }
    let (long, short) = (width.max(height), width.min(height));
    [8, 4, 2]
        .into_iter()
        .find(|&d| long >= limits.reduce_to.saturating_mul(d) && short >= limits.min_side.saturating_mul(d))
        .unwrap_or(1)
}

/// Decodes a JPEG whose header announced `width` x `height` at 1/`denominator` (2, 4 or 8)
/// scale with OpenCV's `imdecode` (libjpeg-turbo's scaled IDCT). OpenCV is
/// told to ignore the EXIF orientation: [`decode_image`] applies it. A
/// decoder error (corrupt data) is an [`Error::InvalidImage`], never a panic.
fn decode_jpeg(bytes: &[u8], denominator: u32, width: u32, height: u32) -> Result<RgbImage> {
    let invalid = |reason: String| Error::InvalidImage { reason };
    let cv = |e: opencv::Error| Error::InvalidImage { reason: format!("jpeg: {e}") };
    let scale = match denominator {
        2 => imgcodecs::IMREAD_REDUCED_COLOR_2,
        4 => imgcodecs::IMREAD_REDUCED_COLOR_4,
        _ => imgcodecs::IMREAD_REDUCED_COLOR_8,
    };
    // Borrows the bytes; OpenCV copies nothing before decoding.
    let encoded = Mat::from_slice(bytes).map_err(cv)?;
    let bgr = imgcodecs::imdecode(&encoded, scale | imgcodecs::IMREAD_IGNORE_ORIENTATION).map_err(cv)?;
    if bgr.empty() {
        return Err(invalid("the JPEG data is corrupt".into()));
    }
    // libjpeg parses the header again: it must agree with the one checked
    // against the limits (OpenCV's own cap, OPENCV_IO_MAX_IMAGE_PIXELS, 1
    // Gpx by default, bounds what it allocates before this check).
    let (w, h) = (width.div_ceil(denominator), height.div_ceil(denominator));
    if (bgr.cols(), bgr.rows(), bgr.typ()) != (w as i32, h as i32, core::CV_8UC3) {
        return Err(invalid(format!(
            "the JPEG decoded to {}x{} (type {}), not the {w}x{h} its header announced",
            bgr.cols(),
            bgr.rows(),
            bgr.typ()
        )));
    }
    let mut rgb = RgbImage::new(w, h);
    let target = rgb.as_ptr();
    {
        // OpenCV writes the conversion straight into the image's buffer (the
        // Mat borrows it; same size and type, so OpenCV does not reallocate).
        let mut out = Mat::new_rows_cols_with_bytes_mut::<core::Vec3b>(h as i32, w as i32, &mut rgb).map_err(cv)?;
        imgproc::cvt_color_def(&bgr, &mut out, imgproc::COLOR_BGR2RGB).map_err(cv)?;
        if out.data() != target {
            return Err(Error::OpenCv("the colour conversion did not write in place".into()));
        }
    }
    Ok(rgb)
}

/// Resizes an image to exactly `width` x `height` (the whole frame, no crop).
pub fn resize_exact(image: &RgbImage, width: u32, height: u32) -> Result<RgbImage> {
    if image.width() == width && image.height() == height {
        return Ok(image.clone());
    }
    // Borrow the pixels: a phone photo is tens of MB, and this runs per request.
    let src = ImageRef::new(image.width(), image.height(), image.as_raw(), PixelType::U8x3)
        .map_err(|e| Error::InvalidImage { reason: e.to_string() })?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&src, &mut dst, &options).map_err(|e| Error::InvalidImage { reason: e.to_string() })?;
    RgbImage::from_raw(width, height, dst.into_vec())
        .ok_or_else(|| Error::InvalidImage { reason: "resize produced a short buffer".into() })
}

/// Appends one image, resized to `size` and normalised per `spec`, to a
/// float batch buffer.
pub fn push_tensor(image: &RgbImage, spec: &InputSpec, size: (u32, u32), out: &mut Vec<f32>) -> Result<()> {
    // Per-channel affine map: (v / scale - mean) / std == v * a + b.
    let a: [f32; 3] = std::array::from_fn(|c| 1.0 / (spec.scale * spec.std[c]));
    let b: [f32; 3] = std::array::from_fn(|c| -spec.mean[c] / spec.std[c]);
    push_mapped(image, spec, size, out, |c, v| f32::from(v) * a[c] + b[c])
}

/// Appends one image, resized to `size`, as raw 0-255 pixels (for graphs that
/// normalise inside).
pub fn push_pixels(image: &RgbImage, spec: &InputSpec, size: (u32, u32), out: &mut Vec<u8>) -> Result<()> {
    push_mapped(image, spec, size, out, |_, v| v)
}

fn push_mapped<T: Copy + Default>(
    image: &RgbImage,
    spec: &InputSpec,
    (width, height): (u32, u32),
    out: &mut Vec<T>,
    map: impl Fn(usize, u8) -> T,
) -> Result<()> {
    let resized = resize_exact(image, width, height)?;
    let plane = width as usize * height as usize;
    let order: [usize; 3] = match spec.channels {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    let start = out.len();
    out.resize(start + 3 * plane, T::default());
    let dst = &mut out[start..];
    for (i, px) in resized.pixels().enumerate() {
        for (c, &src_c) in order.iter().enumerate() {
            let v = map(c, px.0[src_c]);
            match spec.layout {
                Layout::Nchw => dst[c * plane + i] = v,
                Layout::Nhwc => dst[i * 3 + c] = v,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_png(img: &RgbImage) -> Vec<u8> {
        let mut buf = Vec::new();
        img.write_to(&mut Cursor::new(&mut buf), image::ImageFormat::Png).unwrap();
        buf
    }

    #[test]
    fn rejects_non_images_and_empty_input() {
        assert!(matches!(decode_image(b"", DecodeLimits::default()), Err(Error::InvalidImage { .. })));
        assert!(matches!(
            decode_image(b"hello, this is text", DecodeLimits::default()),
            Err(Error::InvalidImage { .. })
        ));
        // A valid PNG signature with a truncated body must not panic.
        let png = encode_png(&RgbImage::new(64, 64));
        assert!(decode_image(&png[..40], DecodeLimits::default()).is_err());
    }

    #[test]
    fn refuses_oversized_and_tiny_images_before_decoding() {
        let png = encode_png(&RgbImage::new(100, 100));
        let limits = DecodeLimits { max_pixels: 9_999, min_side: 1, reduce_to: 0 };
        assert!(matches!(decode_image(&png, limits), Err(Error::ImageTooLarge { width: 100, .. })));
        let limits = DecodeLimits { max_pixels: 1 << 30, min_side: 101, reduce_to: 0 };
        assert!(matches!(decode_image(&png, limits), Err(Error::ImageTooSmall { .. })));
        assert_eq!(decode_image(&png, DecodeLimits::default()).unwrap().dimensions(), (100, 100));
    }

    #[test]
    fn large_jpegs_decode_at_reduced_scale_with_the_same_content() {
        // Left half red, right half blue, 4000x3000.
        let img =
            RgbImage::from_fn(
                4000,
                3000,
                |x, _| if x < 2000 { image::Rgb([220, 20, 20]) } else { image::Rgb([20, 20, 220]) },
            );
        let mut jpeg = Vec::new();
        img.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        let reduced = decode_image(&jpeg, DecodeLimits::default()).unwrap();
        // 1/4 is the smallest DCT scale whose long side (1000) is still >= 800.
        assert_eq!(reduced.dimensions(), (1000, 750));
        let full = decode_image(&jpeg, DecodeLimits { reduce_to: 0, ..DecodeLimits::default() }).unwrap();
        assert_eq!(full.dimensions(), (4000, 3000));
        for (x, y) in [(100, 100), (1900, 1400)] {
            let (r, f) = (reduced.get_pixel(x / 4, y / 4).0, full.get_pixel(x, y).0);
            assert!(r.iter().zip(f).all(|(a, b)| a.abs_diff(b) < 12), "{r:?} vs {f:?}");
        }
        // Photos under twice the target are decoded as they are.
        let small = RgbImage::from_pixel(1500, 1000, image::Rgb([1, 2, 3]));
        let mut jpeg = Vec::new();
        small.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        assert_eq!(decode_image(&jpeg, DecodeLimits::default()).unwrap().dimensions(), (1500, 1000));
    }

    fn encode_jpeg(img: &RgbImage, exif: Option<Vec<u8>>) -> Vec<u8> {
        use image::ImageEncoder;
        let mut buf = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new(&mut buf);
        if let Some(exif) = exif {
            encoder.set_exif_metadata(exif).unwrap();
        }
        encoder.write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8).unwrap();
        buf
    }

    /// Offset of the first `FF <marker>` of a JPEG.
    fn marker(jpeg: &[u8], marker: u8) -> usize {
        jpeg.windows(2).position(|w| w == [0xFF, marker]).unwrap()
    }

    fn halves(width: u32, height: u32) -> RgbImage {
        // Left half red, right half blue.
        RgbImage::from_fn(width, height, |x, _| {
            if x < width / 2 { image::Rgb([220, 20, 20]) } else { image::Rgb([20, 20, 220]) }
        })
    }

    #[test]
    fn corrupt_and_truncated_jpegs_are_invalid_images_not_panics() {
        let jpeg = encode_jpeg(&halves(2000, 1500), None);
        let scales = [DecodeLimits::default(), DecodeLimits { reduce_to: 0, ..DecodeLimits::default() }];
        for limits in scales {
            // Cut inside the headers.
            let cut = marker(&jpeg, 0xC4) + 10;
            assert!(matches!(decode_image(&jpeg[..cut], limits), Err(Error::InvalidImage { .. })));
            // A header that parses, but names a quantisation table the file
            // does not have: libjpeg refuses it while decoding.
            let mut bad = jpeg.clone();
            bad[marker(&jpeg, 0xC0) + 12] = 3;
            let err = decode_image(&bad, limits).unwrap_err();
            assert!(matches!(err, Error::InvalidImage { .. }), "{err:?}");
            // Cut inside the pixels: libjpeg pads the rest with grey (as
            // browsers do, and as the `image` crate did); no panic either way.
            let cut = marker(&jpeg, 0xDA) + 5000;
            let expected = if limits.reduce_to == 0 { (2000, 1500) } else { (1000, 750) };
            assert_eq!(decode_image(&jpeg[..cut], limits).unwrap().dimensions(), expected);
        }
    }

    #[test]
    fn a_jpeg_header_announcing_too_many_pixels_is_refused_before_decoding() {
        // A decompression bomb: a small file whose header announces
        // 60000x60000 (3.6 Gpx; 10.8 GB as RGB). Decoding it would fail or
        // allocate; the header check answers first.
        let mut bomb = encode_jpeg(&RgbImage::new(64, 64), None);
        let sof = marker(&bomb, 0xC0);
        bomb[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
        for reduce_to in [0, 800] {
            let limits = DecodeLimits { reduce_to, ..DecodeLimits::default() };
            assert!(matches!(
                decode_image(&bomb, limits),
                Err(Error::ImageTooLarge { width: 60000, height: 60000, max_pixels: 40_000_000 })
            ));
        }
    }

    #[test]
    fn reduced_scale_decodes_have_the_expected_size() {
        let at = |reduce_to| DecodeLimits { reduce_to, ..DecodeLimits::default() };
        assert_eq!(jpeg_scale(4032, 3024, at(800)), 4);
        assert_eq!(jpeg_scale(2016, 1512, at(800)), 2);
        assert_eq!(jpeg_scale(1599, 1200, at(800)), 1);
        assert_eq!(jpeg_scale(6400, 4800, at(800)), 8);
        assert_eq!(jpeg_scale(6399, 4800, at(800)), 4);
        assert_eq!(jpeg_scale(4032, 3024, at(0)), 1);
        // A panorama keeps its short side at or above the smallest accepted (32 px).
        assert_eq!(jpeg_scale(96, 65_352, at(800)), 2);
        assert_eq!(jpeg_scale(40, 4000, at(800)), 1);
        // Odd sides round up, as libjpeg's scaled output does.
        for ((w, h), reduce_to, expected) in [
            ((4001, 3001), 800, (1001, 751)),
            ((2016, 1512), 800, (1008, 756)),
            ((6400, 4800), 800, (800, 600)),
            ((1512, 2016), 800, (756, 1008)),
            ((4001, 3001), 0, (4001, 3001)),
        ] {
            let jpeg = encode_jpeg(&halves(w, h), None);
            let limits = DecodeLimits { reduce_to, ..DecodeLimits::default() };
            assert_eq!(decode_image(&jpeg, limits).unwrap().dimensions(), expected, "{w}x{h} to {reduce_to}");
        }
    }

    #[test]
    fn exif_orientation_is_applied_once_at_either_scale() {
        // EXIF (TIFF, little-endian) with one tag: Orientation = 6, "rotate
        // 90 degrees clockwise to display", as phones write portrait photos.
        let exif = [
            b"II\x2a\x00\x08\x00\x00\x00".as_slice(),
            &[1, 0],
            &[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0],
            &[0, 0, 0, 0],
        ]
        .concat();
        let jpeg = encode_jpeg(&halves(2000, 1000), Some(exif));
        for (reduce_to, (w, h)) in [(800, (500, 1000)), (0, (1000, 2000))] {
            let limits = DecodeLimits { reduce_to, ..DecodeLimits::default() };
            let img = decode_image(&jpeg, limits).unwrap();
            // Upright: portrait, and the stored left half (red) is on top.
            assert_eq!(img.dimensions(), (w, h));
            let (top, bottom) = (img.get_pixel(w / 2, h / 4).0, img.get_pixel(w / 2, 3 * h / 4).0);
            assert!(top[0] > 180 && top[2] < 60, "top {top:?}");
            assert!(bottom[2] > 180 && bottom[0] < 60, "bottom {bottom:?}");
        }
    }

    #[test]
    fn tensor_is_normalised_in_the_requested_layout() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        img.put_pixel(1, 0, image::Rgb([0, 0, 255]));
        let mut spec = InputSpec {
            name: "x".into(),
            dtype: crate::model::InputType::F32,
            layout: Layout::Nchw,
            width: Some(2),
            height: Some(1),
            short_side: None,
            max_long_side: None,
            channels: ChannelOrder::Rgb,
            scale: 255.0,
            mean: [0.5, 0.5, 0.5],
            std: [0.5, 0.5, 0.5],
        };
        let mut out = Vec::new();
        push_tensor(&img, &spec, (2, 1), &mut out).unwrap();
        // R plane, G plane, B plane.
        assert_eq!(out, vec![1.0, -1.0, -1.0, -1.0, -1.0, 1.0]);
        spec.layout = Layout::Nhwc;
        spec.channels = ChannelOrder::Bgr;
        out.clear();
        push_tensor(&img, &spec, (2, 1), &mut out).unwrap();
        assert_eq!(out, vec![-1.0, -1.0, 1.0, 1.0, -1.0, -1.0]);
        // Raw pixels for graphs that normalise inside: mean/std play no part.
        let mut pixels = Vec::new();
        push_pixels(&img, &spec, (2, 1), &mut pixels).unwrap();
        assert_eq!(pixels, vec![0, 0, 255, 255, 0, 0]);
    }
}
