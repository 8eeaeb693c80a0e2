// The photo as both pages send it: decoded upright (EXIF orientation
// applied), its long side at most 1600 px, re-encoded as a JPEG. The
// visitor page uploads it; the museum console's "Try a photo" sends the very
// same bytes, so what a curator tries is what a visitor's browser sends.
// Plain script, no build step: it defines `window.MuseumPhoto`.
"use strict";

(() => {
  const MAX_SIDE = 1600;
  const JPEG_QUALITY = 0.85;

  /** Decodes the chosen picture upright (EXIF orientation applied). */
  async function decode(file) {
    if (typeof window.createImageBitmap === "function") {
      try {
        return await window.createImageBitmap(file, { imageOrientation: "from-image" });
      } catch {
        // Fall through to <img>, which also honours EXIF orientation.
      }
    }
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.decoding = "async";
      img.src = url;
      await img.decode();
      return img;
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  /** The photo as a JPEG with its long side at most MAX_SIDE px. */
  async function resize(file) {
    const source = await decode(file);
    const width = source.width || source.naturalWidth;
    const height = source.height || source.naturalHeight;
    if (!width || !height) throw new Error("empty image");
    const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // transparent PNGs become white, not black
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
    if (typeof source.close === "function") source.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    if (!blob) throw new Error("encoding failed");
    return blob;
  }

  window.MuseumPhoto = Object.freeze({ MAX_SIDE, resize });
})();
