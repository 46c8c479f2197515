"""Caffe model files for the tests, written without Caffe: the prototxt as text, the
caffemodel through a protobuf schema of the test's own (layer names and blobs are all that
Caffe, OpenCV and ovcc read from it), and OpenCV's DNN module to run them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from compiler.frontends.proto_schema import build_messages

OV_F32 = {"INFERENCE_PRECISION_HINT": "f32"}


@cache
def _weights_schema() -> type:
    # caffe.proto: BlobShape.dim=1; BlobProto shape=7 data=5 num=1 channels=2 height=3 width=4;
    # LayerParameter name=1 type=2 blobs=7; V1LayerParameter name=4 blobs=6; NetParameter layers=2 layer=100
    return build_messages("tests.caffe", {
        "BlobShape": [("dim", 1, "int64", "packed")],
        "BlobProto": [("shape", 7, "BlobShape"), ("data", 5, "float", "packed"), ("num", 1, "int32"),
                      ("channels", 2, "int32"), ("height", 3, "int32"), ("width", 4, "int32")],
        "LayerParameter": [("name", 1, "string"), ("type", 2, "string"), ("blobs", 7, "BlobProto", "repeated")],
        "V1LayerParameter": [("name", 4, "string"), ("blobs", 6, "BlobProto", "repeated")],
        "NetParameter": [("name", 1, "string"), ("layers", 2, "V1LayerParameter", "repeated"),
                         ("layer", 100, "LayerParameter", "repeated")],
    })["NetParameter"]


def caffemodel_bytes(weights: dict[str, list[np.ndarray]], v1: bool = False, legacy_4d: bool = False) -> bytes:
    """A caffemodel holding `weights` ({layer name: blobs}); `legacy_4d` stores the shapes as
    num/channels/height/width, as old Caffe did."""
    net = _weights_schema()(name="test")
    for name, blobs in weights.items():
        layer = net.layers.add(name=name) if v1 else net.layer.add(name=name)
        for a in blobs:
            b = layer.blobs.add()
            if legacy_4d:
                b.num, b.channels, b.height, b.width = [1] * (4 - a.ndim) + list(a.shape)
            else:
                b.shape.SetInParent()
                b.shape.dim.extend(a.shape)
            b.data.extend(np.asarray(a, np.float32).ravel().tolist())
    return net.SerializeToString()


def write_net(folder: Path, prototxt: str, weights: dict[str, list[np.ndarray]] | None = None, name: str = "net",
              v1: bool = False, legacy_4d: bool = False) -> tuple[Path, Path | None]:
    folder.mkdir(parents=True, exist_ok=True)
    proto = folder / f"{name}.prototxt"
    proto.write_text(prototxt)
    if weights is None:
        return proto, None
    model = folder / f"{name}.caffemodel"
    model.write_bytes(caffemodel_bytes(weights, v1, legacy_4d))
    return proto, model


def opencv_run(proto: Path, model: Path | None, inputs: dict[str, np.ndarray], outputs: list[str]) -> list:
    """Run the net with OpenCV's DNN module; `outputs` are the names of the layers whose top to read."""
    import cv2

    net = cv2.dnn.readNetFromCaffe(str(proto), str(model)) if model else cv2.dnn.readNetFromCaffe(str(proto))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    for name, x in inputs.items():
        net.setInput(x, name)
    return [np.asarray(y) for y in net.forward(outputs)]


def rand(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)
