"""TFLite resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE: what the
converter writes for a tf.Variable a model updates, e.g. a streaming model's buffer) become
explicit state: input `name` (the value before the call), output `name/next` (after), and
`Model.initial_state` (what CALL_ONCE initializes them to). A few calls fed back their state
must give the TFLite interpreter's outputs, call after call."""

import numpy as np
import pytest

import compiler as ov
from tests.models import F32

tf = pytest.importorskip("tensorflow")


class _Accumulate(tf.Module):
    def __init__(self):
        self.total = tf.Variable(tf.range(4, dtype=tf.float32))
        self.calls = tf.Variable(tf.zeros([], tf.float32))

    @tf.function(input_signature=[tf.TensorSpec([4], tf.float32)])
    def __call__(self, x):
        self.total.assign_add(x)
        self.calls.assign(self.calls + 1.0)
        return self.total.read_value() * self.calls


class _Stream(tf.Module):
    """A streaming filter: a buffer of the last 8 samples, shifted by each call's 2."""

    def __init__(self):
        self.buf = tf.Variable(tf.zeros([1, 8], tf.float32))
        self.w = tf.constant(np.linspace(-1, 1, 8).astype(np.float32)[:, None])

    @tf.function(input_signature=[tf.TensorSpec([1, 2], tf.float32)])
    def __call__(self, x):
        new = tf.concat([self.buf[:, 2:], x], axis=1)
        self.buf.assign(new)
        return tf.matmul(new, self.w)


@pytest.mark.parametrize("module", [_Accumulate, _Stream])
def test_resource_variables_as_explicit_state_match_the_interpreter(tmp_path, module):
    m = module()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    conv.experimental_enable_resource_variables = True
    path = tmp_path / "state.tflite"
    path.write_bytes(conv.convert())
    it = tf.lite.Interpreter(model_path=str(path))
    it.allocate_tensors()

    model = ov.convert_model(path)
    names = [p.any_name for p in model.inputs]
    state_names = [n for n in names if n in model.initial_state]
    assert state_names and all(f"{n}/next" in {x for p in model.outputs for x in p.names} for n in state_names)
    compiled = ov.compile_model(model, "CPU", F32)
    state = dict(model.initial_state)
    rng = np.random.default_rng(0)
    spec = it.get_input_details()[0]
    for _ in range(4):
        x = rng.standard_normal(spec["shape"]).astype(np.float32)
        it.set_tensor(spec["index"], x)
        it.invoke()
        want = it.get_tensor(it.get_output_details()[0]["index"])
        out = compiled([state.get(n, x) for n in names]).to_tuple()
        np.testing.assert_allclose(out[0], want, rtol=1e-6, atol=1e-6)
        for p, v in zip(model.outputs[1:], out[1:]):
            state[next(iter(p.names)).removesuffix("/next")] = v
