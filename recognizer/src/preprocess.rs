//! Image decoding under limits, and conversion of images into model input.
//!
//! Decoding checks the header's dimensions before allocating pixels, so a
//! decompression bomb is refused cheaply. EXIF orientation is applied, since
//! phones store portrait photos as rotated landscape pixels.

use std::io::Cursor;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::model::{ChannelOrder, InputSpec, Layout};
use crate::{Error, Result};

/// Bounds on what [`decode_image`] accepts.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest width x height accepted (checked from the header, before decoding).
    pub max_pixels: u64,
    /// Smallest accepted side, in pixels.
    pub min_side: u32,
    /// JPEGs whose long side is at least twice this are decoded at a reduced
    /// DCT scale (1/2, 1/4, 1/8) whose long side is still at least this; 0
    /// decodes full size. The pipeline never looks at more than ~640 px, and
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
pub fn decode_image(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage> {
    let invalid = |e: image::ImageError| Error::InvalidImage { reason: e.to_string() };
    if bytes.is_empty() {
        return Err(Error::InvalidImage { reason: "empty file".into() });
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::InvalidImage { reason: e.to_string() })?;
    let reader_format = reader.format();
    if reader_format.is_none() {
        return Err(Error::InvalidImage { reason: "unrecognised image format".into() });
    }
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Error::ImageTooLarge { width, height, max_pixels: limits.max_pixels });
    }
    if width.min(height) < limits.min_side {
        return Err(Error::ImageTooSmall { width, height, min_side: limits.min_side });
    }
    let orientation = decoder.orientation().map_err(invalid)?;
    let reducible = reader_format == Some(ImageFormat::Jpeg)
        && limits.reduce_to > 0
        && width.max(height) >= limits.reduce_to.saturating_mul(2);
    let mut image = match reducible.then(|| decode_jpeg_reduced(bytes, limits.reduce_to, width, height)).flatten() {
        Some(reduced) => DynamicImage::ImageRgb8(reduced),
        None => DynamicImage::from_decoder(decoder).map_err(invalid)?,
    };
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

/// Decodes a JPEG at the smallest IDCT scale whose long side is at least
/// `reduce_to` (jpeg-decoder implements libjpeg's scaled IDCT; the image
/// crate's decoder does not). `None` (the caller decodes full size) for
/// anything this path does not handle, e.g. CMYK.
fn decode_jpeg_reduced(bytes: &[u8], reduce_to: u32, width: u32, height: u32) -> Option<RgbImage> {
    let decode = || {
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        let s = f64::from(reduce_to) / f64::from(width.max(height));
        let want = |v: u32| (f64::from(v) * s).ceil().clamp(1.0, 65535.0) as u16;
        let (w, h) = decoder.scale(want(width), want(height)).ok()?;
        let pixels = decoder.decode().ok()?;
        let (w, h) = (u32::from(w), u32::from(h));
        match decoder.info()?.pixel_format {
            jpeg_decoder::PixelFormat::RGB24 => RgbImage::from_raw(w, h, pixels),
            jpeg_decoder::PixelFormat::L8 => {
                image::GrayImage::from_raw(w, h, pixels).map(|g| DynamicImage::ImageLuma8(g).into_rgb8())
            }
            _ => None,
        }
    };
    // The decoder panics on some malformed headers; a photo must never take the server down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).ok().flatten()
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
