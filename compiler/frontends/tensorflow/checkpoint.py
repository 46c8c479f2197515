"""TensorFlow 1 models stored as a graph plus a checkpoint (a `.meta` meta graph, or a GraphDef
whose variables live in a checkpoint), frozen into a GraphDef as the Model Optimizer did it:
the variables are restored in a session and TensorFlow's own `convert_variables_to_constants`
turns them into constants. The outputs are the nodes nothing reads (save/restore and
initialization bookkeeping aside), unless they are named."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dialects.errors import ConversionError, ModelFileError

# nodes of a training graph that are not part of the model's computation
BOOKKEEPING = {"NoOp", "Assign", "AssignVariableOp", "AssignAdd", "AssignSub", "SaveV2", "RestoreV2", "Save",
               "Restore", "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "VarIsInitializedOp",
               "IsVariableInitialized", "Const", "VariableV2", "VarHandleOp", "Placeholder", "PlaceholderWithDefault"}


def _outputs(graph_def, outputs: Sequence[str]) -> list[str]:
    if outputs:
        return [o.split(":")[0] for o in outputs]
    consumed = {i.lstrip("^").split(":")[0] for n in graph_def.node for i in n.input}
    found = [n.name for n in graph_def.node if n.name not in consumed and n.op not in BOOKKEEPING
             and not n.name.startswith(("save/", "save_")) and n.name != "init"]
    if not found:
        raise ConversionError("the TensorFlow 1 graph has no output nodes; name them with --output")
    return found


def freeze_checkpoint(meta_graph: Any = None, graph: Any = None, checkpoint: Any = None,
                      outputs: Sequence[str] = ()) -> Any:
    """A frozen GraphDef from a meta graph (with its checkpoint: the `.meta` file's prefix if
    none is given) or from a GraphDef file and a checkpoint."""
    from compiler.frontends.tensorflow import _tf

    tf = _tf()
    v1 = tf.compat.v1
    if checkpoint is None and meta_graph is not None:
        checkpoint = str(meta_graph)[:-len(".meta")] if str(meta_graph).endswith(".meta") else None
    if checkpoint is None:
        raise ConversionError("a graph with variables needs its checkpoint (--input_checkpoint)")
    ckpt = str(checkpoint)
    if os.path.isdir(ckpt):
        ckpt = tf.train.latest_checkpoint(ckpt) or ckpt
    try:
        tf.train.load_checkpoint(ckpt)
    except Exception as e:  # noqa: BLE001 - a missing or corrupt checkpoint fails in many ways
        raise ModelFileError(f"{checkpoint}: not a readable TensorFlow checkpoint ({type(e).__name__})") from None
    g = tf.Graph()
    with g.as_default(), v1.Session(graph=g) as sess:
        if meta_graph is not None:
            path = Path(meta_graph)
            if not path.is_file():
                raise ModelFileError(f"{path}: no such file")
            try:
                saver = v1.train.import_meta_graph(str(path), clear_devices=True)
            except Exception as e:  # noqa: BLE001
                raise ModelFileError(f"{path}: not a TensorFlow meta graph ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
            saver.restore(sess, ckpt)
        else:
            _restore_into(tf, sess, _read(tf, Path(graph)), ckpt)
        graph_def = g.as_graph_def()
        names = _outputs(graph_def, outputs)
        return v1.graph_util.convert_variables_to_constants(sess, graph_def, names)


def _read(tf, path: Path):
    from google.protobuf import text_format

    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    gd = tf.compat.v1.GraphDef()
    try:
        if path.suffix.lower() == ".pbtxt":
            text_format.Parse(path.read_text(), gd)
        else:
            gd.ParseFromString(path.read_bytes())
    except Exception as e:  # noqa: BLE001
        raise ModelFileError(f"{path}: not a valid TensorFlow GraphDef ({type(e).__name__})") from None
    return gd


def _restore_into(tf, sess, graph_def, ckpt: str) -> None:
    """Import a GraphDef into the session's graph and give its variables the checkpoint's values."""
    tf.graph_util.import_graph_def(graph_def, name="")
    reader = tf.train.load_checkpoint(ckpt)
    have = reader.get_variable_to_shape_map()
    g = sess.graph
    assigns = []
    for n in graph_def.node:
        if n.op not in ("VariableV2", "Variable", "VarHandleOp"):
            continue
        key = n.attr["shared_name"].s.decode() if n.op == "VarHandleOp" and n.attr["shared_name"].s else n.name
        if key not in have:
            raise ConversionError(f"the checkpoint has no value for variable {key!r}")
        t = g.get_tensor_by_name(f"{n.name}:0")
        value = reader.get_tensor(key)
        assigns.append(tf.raw_ops.AssignVariableOp(resource=t, value=value) if n.op == "VarHandleOp"
                       else tf.raw_ops.Assign(ref=t, value=value))
    sess.run(assigns)


__all__ = ["freeze_checkpoint"]
