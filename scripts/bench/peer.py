"""The same recognition pipeline built the way a Python team would: FastAPI +
onnxruntime + faiss-cpu + Pillow (+ OpenCV for the local-feature check), on
the same model file and the same published FAISS index. Used only by
scripts/bench/load.sh as the comparison peer; not part of the product.

Run: BUNDLE=var/bench/bundles/palace-demo MODEL=models/sscd IMAGES=var/bench/demo/images \
     uvicorn peer:app --workers 2 --port 8181
"""
import io
import json
import os

import cv2
import faiss
import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, File, Form, UploadFile
from PIL import Image, ImageOps

root = os.environ["BUNDLE"]
version = open(os.path.join(root, "CURRENT")).read().strip()
bundle = os.path.join(root, "versions", version)
manifest = json.load(open(os.path.join(bundle, "manifest.json")))
vectors = json.load(open(os.path.join(bundle, "vectors.json")))
exhibits = {e["id"]: e for e in json.load(open(os.path.join(bundle, "exhibits.json")))}
index = faiss.read_index(os.path.join(bundle, "index.faiss"))
center = np.asarray(manifest["projection"]["center"], dtype=np.float32)
calibration = manifest["calibration"]

model_dir = os.environ["MODEL"]
model = json.load(open(os.path.join(model_dir, "model.json")))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(os.path.join(model_dir, model["file"]), options, providers=["CPUExecutionProvider"])
spec = model["input"]
input_name, output_name = spec["name"], model["output"]["name"]
mean = np.asarray(spec.get("mean", [0, 0, 0]), dtype=np.float32)
std = np.asarray(spec.get("std", [1, 1, 1]), dtype=np.float32)


def input_size(w, h):
    """The manifest's input size: fixed, or short side kept in proportion (as recognizer::model does)."""
    if "width" in spec:
        return spec["width"], spec["height"]
    short, cap = spec["short_side"], spec.get("max_long_side", 1 << 30)
    long = lambda a, b: min(max(round(short * a / b), short), max(cap, short))
    return (long(w, h), short) if w >= h else (short, long(h, w))


orb_catalog = cv2.ORB_create(500, 1.2, 8, 31, 0, 2, cv2.ORB_HARRIS_SCORE, 31, 20)
orb_query = cv2.ORB_create(1000, 1.2, 8, 31, 0, 2, cv2.ORB_HARRIS_SCORE, 31, 20)
matcher = cv2.BFMatcher(cv2.NORM_HAMMING)


def gray640(img):
    g = img.convert("L")
    g.thumbnail((640, 640), Image.BILINEAR)
    return np.asarray(g)


catalog = []
images_dir = os.environ["IMAGES"]
for v in vectors:
    kp, des = orb_catalog.detectAndCompute(gray640(Image.open(os.path.join(images_dir, v["image"])).convert("RGB")), None)
    catalog.append((np.float32([k.pt for k in kp]) if kp else np.zeros((0, 2), np.float32), des))


def embed(images):
    size = input_size(*images[0].size)
    arrays = [np.asarray(i.resize(size, Image.BILINEAR)) for i in images]
    if spec.get("dtype") == "u8":  # the graph normalises inside (SSCD)
        batch = np.stack(arrays)
    else:
        batch = np.stack([(a.astype(np.float32) / 255.0 - mean) / std for a in arrays]).transpose(0, 3, 1, 2)
    out = session.run([output_name], {input_name: batch})[0]
    feats = (out[:, 0, :] if out.ndim == 3 else out) - center
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


def verify(photo, shortlist):
    kp, des = orb_query.detectAndCompute(gray640(photo), None)
    if des is None or len(kp) < 4:
        return {}
    q = np.float32([k.pt for k in kp])
    best = {}
    for i in shortlist:
        pts, cdes = catalog[i]
        if cdes is None or len(pts) < 2:
            continue
        good = [m for m, n in (p for p in matcher.knnMatch(des, cdes, k=2) if len(p) == 2) if m.distance < 0.8 * n.distance]
        if len(good) < 8:
            continue
        _, mask = cv2.findHomography(q[[m.queryIdx for m in good]], pts[[m.trainIdx for m in good]], cv2.RANSAC, 6.0)
        inliers = int(mask.sum()) if mask is not None else 0
        ex = vectors[i]["exhibit"]
        best[ex] = max(best.get(ex, 0), inliers)
    return best


app = FastAPI()


@app.post("/api/v1/recognize")
async def recognize(file: UploadFile = File(...), museum: str = Form(None), lang: str = Form("zh")):
    photo = ImageOps.exif_transpose(Image.open(io.BytesIO(await file.read()))).convert("RGB")
    by_exhibit = {}
    w, h = photo.size
    # As the server does: the whole frame first; the four corner 60% windows
    # and the centred one only when that decides nothing.
    crops = [photo]
    grid = [(0, 0), (0.4, 0), (0, 0.4), (0.4, 0.4), (0.2, 0.2)]
    for attempt in range(2):
        if attempt:
            crops = [photo.crop((int(w * x), int(h * y), int(w * x) + int(w * 0.6), int(h * y) + int(h * 0.6))) for x, y in grid]
        scores, ids = index.search(embed(crops), 40)
        for s, i in zip(scores.ravel(), ids.ravel()):
            if i >= 0:
                ex = vectors[i]["exhibit"]
                by_exhibit[ex] = max(by_exhibit.get(ex, -1.0), float(s))
        ranked = sorted(by_exhibit.items(), key=lambda kv: -kv[1])[:8]
        shortlist = [i for i, v in enumerate(vectors) if v["exhibit"] in dict(ranked)]
        inliers = verify(photo, shortlist)
        verified = sorted(((n, ex) for ex, n in inliers.items() if n >= calibration["min_inliers"]), reverse=True)
        if verified:
            status, best = "matched", verified[0][1]
        elif ranked and ranked[0][1] >= calibration["accept_score"]:
            status, best = "matched", ranked[0][0]
        else:
            status, best = "no_match", None
        if best:
            break
    record = exhibits.get(best) if best else None
    title = record and (record["title"].get(lang) or next(iter(record["title"].values())))
    return {"errcode": 0, "errmsg": "ok", "data": {"status": status, "exhibit": {"id": best, "title": title} if best else None,
            "alternatives": [{"id": ex, "score": s} for ex, s in ranked[1:4]]}}
