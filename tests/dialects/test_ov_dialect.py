"""The `ov` dialect: op declarations, shape inference, verification, printing and parsing."""

import time

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from dialects.errors import ShapeError
from dialects.ov import OPS, Const, create, info_of, shape_of, tensor_type
from passes.pipeline import context


def _module(arg_types, build):
    blk = Block(arg_types=arg_types)
    outs = build(blk)
    blk.add_op(func.ReturnOp(*outs))
    fn = func.FuncOp("main", (list(arg_types), [o.type for o in outs]), Region(blk))
    return ModuleOp([fn])


def _add(blk, op):
    blk.add_op(op)
    return op


def test_convolution_infers_static_and_dynamic_dims():
    def build(blk):
        w = _add(blk, Const(np.zeros((8, 3, 3, 3), np.float32))).output
        c = _add(blk, create("Convolution", [blk.args[0], w], strides=[2, 2], pads_begin=[1, 1], pads_end=[1, 1],
                             dilations=[1, 1]))
        return [c.outputs[0]]

    m = _module([tensor_type((None, 3, 224, None), np.float32)], build)
    m.verify()
    ret = m.body.block.first_op.body.block.last_op
    assert shape_of(ret.operands[0].type) == (None, 8, 112, None)


def test_verifier_rejects_inconsistent_result_type():
    blk = Block(arg_types=[tensor_type((2, 3), np.float32), tensor_type((3, 4), np.float32)])
    bad = OPS["MatMul"].create(operands=list(blk.args), result_types=[tensor_type((2, 5), np.float32)],
                               properties=OPS["MatMul"].attr_props({}))
    blk.add_op(bad)
    with pytest.raises(VerifyException, match="MatMul: output 0 is \\[2,5\\]"):
        bad.verify()


def test_create_rejects_bad_shapes_with_a_clear_message():
    blk = Block(arg_types=[tensor_type((2, 3), np.float32), tensor_type((4, 5), np.float32)])
    with pytest.raises(ShapeError, match="MatMul: inner dimensions differ"):
        create("MatMul", list(blk.args))
    with pytest.raises(ShapeError, match="do not broadcast"):
        create("Add", list(blk.args))


def test_partial_shape_values_flow_through_shape_subgraphs():
    def build(blk):
        x = blk.args[0]
        s = _add(blk, create("ShapeOf", [x])).outputs[0]
        idx = _add(blk, Const(np.array([0, 1], np.int64))).output
        axis = _add(blk, Const(np.array(0, np.int64))).output
        head = _add(blk, create("Gather", [s, idx, axis])).outputs[0]
        tail = _add(blk, Const(np.array([12, 64], np.int64))).output
        shape = _add(blk, create("Concat", [head, tail], axis=0)).outputs[0]
        return [_add(blk, create("Reshape", [x, shape], special_zero=False)).outputs[0]]

    m = _module([tensor_type((None, 7, 768), np.float32)], build)
    ret = m.body.block.first_op.body.block.last_op
    assert shape_of(ret.operands[0].type) == (None, 7, 12, 64)
    assert info_of(ret.operands[0].owner.inputs[1]).partial == (None, 7, 12, 64)


def test_every_op_declares_opset_inputs_and_inference():
    for name, cls in OPS.items():
        assert cls.OPSET.startswith("opset"), name
        if name != "Const":
            assert cls.infer.__func__ is not OPS["Const"].__dict__.get("infer"), name


def test_text_round_trip_is_structurally_equal():
    def build(blk):
        w = _add(blk, Const(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2))).output
        c = _add(blk, create("Convolution", [blk.args[0], w], strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                             dilations=[1, 1], auto_pad="valid"))
        p = _add(blk, create("AvgPool", [c.outputs[0]], strides=[1, 1], pads_begin=[0, 0], pads_end=[0, 0],
                             kernel=[2, 2], exclude_pad=True))
        return [p.outputs[0]]

    m = _module([tensor_type((1, 3, 5, 5), np.float32)], build)
    text = str(m)
    assert '"exclude-pad" = true' in text
    again = Parser(context(), text).parse_module()
    again.verify()
    assert again.is_structurally_equivalent(m)
    assert str(again) == text


def test_large_constants_are_cheap():
    w = np.random.default_rng(0).standard_normal(25_000_000).astype(np.float32)  # 100 MB
    t = time.perf_counter()
    c = Const(w)
    view = c.array
    c.verify()
    assert time.perf_counter() - t < 5.0
    assert view.base is not None and np.array_equal(view[:10], w[:10])
