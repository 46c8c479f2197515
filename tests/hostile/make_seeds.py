"""Writes the seed models of the hostile-input corpus (tests/hostile/seeds/), the valid files
that the generator mutates, for the formats whose writer is a framework (TensorFlow, TFLite,
PyTorch). Run once; the outputs are committed. ONNX and IR seeds are built on the fly.

    PYTHONPATH=. python tests/hostile/make_seeds.py"""

import os
import shutil
from pathlib import Path

import numpy as np

SEEDS = Path(__file__).parent / "seeds"


def tensorflow_seeds() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    tf.random.set_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 3)), tf.keras.layers.Conv2D(4, 3, activation="relu"),
                                 tf.keras.layers.MaxPooling2D(), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(5), tf.keras.layers.Softmax()])
    fn = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec([1, 8, 8, 3], tf.float32, name="x"))
    gd = convert_variables_to_constants_v2(fn).graph.as_graph_def()
    (SEEDS / "small.pb").write_bytes(gd.SerializeToString())
    (SEEDS / "small.pbtxt").write_text(text_format.MessageToString(gd))
    (SEEDS / "small.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    shutil.rmtree(SEEDS / "saved_model", ignore_errors=True)

    class Small(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))

        @tf.function(input_signature=[tf.TensorSpec([2, 4], tf.float32, name="x")])
        def __call__(self, x):
            return tf.nn.relu(x @ self.w)

    tf.saved_model.save(Small(), str(SEEDS / "saved_model"))


def torch_seeds() -> None:
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(1, 3, 8, 8)
    torch.export.save(torch.export.export(module, (x,)), str(SEEDS / "small.pt2"))
    torch.jit.save(torch.jit.trace(module, (x,)), str(SEEDS / "small.pt"))


if __name__ == "__main__":
    SEEDS.mkdir(exist_ok=True)
    tensorflow_seeds()
    torch_seeds()
    for p in sorted(SEEDS.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(SEEDS)}: {p.stat().st_size} bytes")
