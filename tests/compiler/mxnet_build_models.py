"""Run by MXNet 1.9.1 in its own virtualenv (tests/compiler/mxnet_oracle.py makes it): builds the
MXNet test models (Gluon blocks, a symbol-API checkpoint, three Gluon model-zoo networks with
seeded weights), exports each as OUT/NAME-symbol.json + OUT/NAME-0000.params, runs it on
seeded inputs and writes the inputs and MXNet's outputs to OUT/NAME.npz (in/INPUT in the
inputs' order, then out/0, out/1, ...), and a file of arrays of each dtype, OUT/dtypes.params.

    python tests/compiler/mxnet_build_models.py OUT              # every model
    python tests/compiler/mxnet_build_models.py OUT --fixtures   # the small ones: tests/data/mxnet

--fixtures leaves out the model-zoo networks (their weights are megabytes); the other models
come out the same either way (one seeded generator, the zoo last), byte for byte: the .npz
files are written with a fixed timestamp. Not imported by the tests (they have no MXNet)."""

import io
import sys
import zipfile

import mxnet as mx
import numpy as np
from mxnet.gluon import nn
from mxnet.gluon.model_zoo import vision

OUT = sys.argv[1]
FIXTURES = sys.argv[2:] == ["--fixtures"]
if sys.argv[2:] not in ([], ["--fixtures"]):
    sys.exit(f"usage: {sys.argv[0]} OUT [--fixtures]")
mx.random.seed(0)
rng = np.random.default_rng(0)


def randomize(net):
    for name, p in net.collect_params().items():
        shape = p.shape
        if name.endswith("running_var"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("gamma", "running_mean", "beta", "bias", "alpha")):
            v = rng.uniform(-0.5, 0.5, shape) + (1.0 if name.endswith("gamma") else 0.0)
        else:
            v = rng.standard_normal(shape) * (1.0 / np.sqrt(max(1, int(np.prod(shape[1:])))))
        p.set_data(mx.nd.array(v.astype(np.float32)))


def gluon(name, net, inputs):
    net.initialize()
    arrays = [mx.nd.array(x) for x in inputs]
    net(*arrays)  # shapes of deferred parameters
    randomize(net)
    net.hybridize()
    outs = net(*arrays)
    net.export(f"{OUT}/{name}", 0)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    names = [f"data{i}" for i in range(len(inputs))] if len(inputs) > 1 else ["data"]
    record(name, names, inputs, [o.asnumpy() for o in outs])


def record(name, names, inputs, outs):
    """OUT/NAME.npz, as np.savez writes it but with a fixed timestamp, so that a rebuild is the
    same bytes."""
    arrays = {**{f"in/{n}": x for n, x in zip(names, inputs)}, **{f"out/{k}": o for k, o in enumerate(outs)}}
    with zipfile.ZipFile(f"{OUT}/{name}.npz", "w", zipfile.ZIP_STORED) as z:
        for key, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def normal(*shape):
    return rng.standard_normal(shape).astype(np.float32)


class ResidualBlock(nn.HybridBlock):  # Gluon model zoo's BasicBlockV1 with a downsample branch
    def __init__(self, **kw):
        super().__init__(**kw)
        self.body = nn.HybridSequential()
        self.body.add(nn.Conv2D(8, 3, 2, 1, use_bias=False, in_channels=4), nn.BatchNorm(),
                      nn.Activation("relu"), nn.Conv2D(8, 3, 1, 1, use_bias=False), nn.BatchNorm())
        self.down = nn.HybridSequential()
        self.down.add(nn.Conv2D(8, 1, 2, use_bias=False), nn.BatchNorm())
        self.pool = nn.GlobalAvgPool2D()
        self.fc = nn.Dense(5)

    def hybrid_forward(self, F, x):
        y = F.Activation(self.body(x) + self.down(x), act_type="relu")
        return self.fc(self.pool(y))


class DepthwiseBlock(nn.HybridBlock):  # MobileNet's depthwise-separable unit, relu6 as clip
    def __init__(self, **kw):
        super().__init__(**kw)
        self.dw = nn.Conv2D(6, 3, 1, 1, groups=6, use_bias=False, in_channels=6)
        self.bn1 = nn.BatchNorm(scale=False)  # fix_gamma
        self.pw = nn.Conv2D(10, 1, use_bias=False)
        self.bn2 = nn.BatchNorm(epsilon=1e-5)
        self.dil = nn.Conv2D(4, 3, padding=2, dilation=2, groups=2)
        self.prelu = nn.PReLU(alpha_initializer=mx.init.Constant(0.2))

    def hybrid_forward(self, F, x):
        y = F.clip(self.bn1(self.dw(x)), 0, 6)
        y = F.clip(self.bn2(self.pw(y)), 0, 6)
        y = self.prelu(self.dil(y))
        return F.LeakyReLU(y, act_type="leaky", slope=0.1), F.LeakyReLU(y, act_type="elu", slope=0.7), \
            F.LeakyReLU(y, act_type="selu"), F.LeakyReLU(y, act_type="gelu")


class Mlp(nn.HybridBlock):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.fc1 = nn.Dense(16)
        self.fc2 = nn.Dense(12, flatten=False)
        self.drop = nn.Dropout(0.5)
        self.fc3 = nn.Dense(4)

    def hybrid_forward(self, F, x):
        h = self.fc1(x)
        h = F.concat(F.Activation(h, act_type="sigmoid"), F.Activation(h, act_type="tanh"),
                     F.Activation(h, act_type="softrelu"), F.Activation(h, act_type="softsign"), dim=1)
        h = self.fc2(F.reshape(self.drop(h), (0, 4, -1)))
        return F.softmax(self.fc3(h), axis=-1), F.log_softmax(h, axis=1)


class ReshapeCodes(nn.HybridBlock):
    def hybrid_forward(self, F, x):  # x: (2, 3, 4, 5)
        outs = [F.reshape(x, (0, -1)), F.reshape(x, (-2,)), F.reshape(x, (-3, -2)), F.reshape(x, (0, 0, -3)),
                F.reshape(x, (-4, 1, 2, -2)), F.reshape(x, (0, -4, -1, 1, 0, 0)), F.reshape(x, (-1, 5)),
                F.reshape(x, (-1, 0), reverse=True), F.reshape(x, (6, 1, -1)), F.Flatten(x),
                F.transpose(x, (0, 2, 3, 1)), F.transpose(x), F.expand_dims(x, axis=-1),
                F.squeeze(F.reshape(x, (2, 1, 60, 1)), axis=(1, 3)), F.slice_axis(x, axis=2, begin=1, end=-1),
                F.slice(x, begin=(None, 1, 0), end=(None, 3, 4), step=(None, 1, 2)),
                F.SwapAxis(x, dim1=1, dim2=3)]
        a, b, c = F.split(x, num_outputs=3, axis=1)
        outs += [a, F.split(x, num_outputs=2, axis=2, squeeze_axis=False)[1], b * c - a / (c * c + 1.0),
                 F.mean(x, axis=(1, 3), keepdims=True), F.sum(x, axis=1), F.sum(x, axis=1, exclude=True),
                 F.max(x, axis=-1), F.mean(x), F.broadcast_add(x, F.mean(x, axis=1, keepdims=True)),
                 F.broadcast_mul(x, F.sum(x, axis=(2, 3), keepdims=True)),
                 F.broadcast_maximum(x, F.min(x, axis=0, keepdims=True)),
                 F.broadcast_greater(x, F.mean(x, axis=3, keepdims=True)),
                 x * 2.5 + 1.0, 3.0 - x, 2.0 / (F.abs(x) + 1.0), x ** 2.0, F.maximum(x, 0.3), x > 0.2,
                 F.exp(F.clip(x, -1, 1)), F.sqrt(F.abs(x)), F.square(x), F.negative(x),
                 F.dot(F.reshape(x, (6, 20)), F.reshape(x, (20, 6))),
                 F.dot(x, F.reshape(x, (5, 24)), transpose_a=False),
                 F.dot(F.reshape(x, (20, 6)), F.reshape(x, (20, 6)), transpose_a=True),
                 F.batch_dot(F.reshape(x, (2, 12, 5)), F.reshape(x, (2, 12, 5)), transpose_b=True),
                 F.batch_dot(F.reshape(x, (2, 12, 5)), F.reshape(x, (2, 12, 5)), transpose_a=True)]
        return tuple(outs)


class Pools(nn.HybridBlock):
    def hybrid_forward(self, F, x):  # x: (1, 2, 9, 8)
        outs = []
        for pool in ("max", "avg", "sum"):
            for conv in ("valid", "full"):
                for k, s, p in [((3, 3), (2, 2), (1, 1)), ((2, 3), (2, 3), (0, 0)), ((3, 2), (3, 2), (1, 0)),
                                ((4, 4), (3, 3), (2, 1))]:
                    outs.append(F.Pooling(x, kernel=k, stride=s, pad=p, pool_type=pool, pooling_convention=conv))
                    if pool == "avg":
                        outs.append(F.Pooling(x, kernel=k, stride=s, pad=p, pool_type=pool,
                                              pooling_convention=conv, count_include_pad=False))
            outs.append(F.Pooling(x, kernel=(1, 1), pool_type=pool, global_pool=True))
        return tuple(outs)


class Misc(nn.HybridBlock):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.deconv = nn.Conv2DTranspose(3, 3, strides=2, padding=1, output_padding=1, in_channels=4)
        self.deconv_g = nn.Conv2DTranspose(4, 4, strides=2, padding=1, groups=2, use_bias=False, in_channels=4)
        self.ln = nn.LayerNorm(in_channels=6)
        self.bn = nn.BatchNorm(axis=3, in_channels=6)

    def hybrid_forward(self, F, x):  # x: (1, 4, 5, 6)
        return (self.deconv(x), self.deconv_g(x), F.UpSampling(x, scale=2, sample_type="nearest"),
                F.Pad(x, mode="constant", pad_width=(0, 0, 0, 0, 1, 2, 2, 1), constant_value=0.5),
                F.Pad(x, mode="edge", pad_width=(0, 0, 0, 0, 1, 2, 2, 1)),
                F.Pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 1, 2, 2, 1)),
                F.LRN(x, nsize=3, alpha=0.01, beta=0.75, knorm=2.0), self.ln(x), self.bn(x),
                F.SoftmaxActivation(x), F.SoftmaxActivation(x, mode="channel"), F.identity(x),
                F.Crop(x, h_w=(3, 4), offset=(1, 2), num_args=1), F.Crop(x, h_w=(2, 3), center_crop=True, num_args=1),
                F.Crop(x, F.slice_axis(x, axis=3, begin=0, end=2), offset=(0, 1), num_args=2))


class TextClassifier(nn.HybridBlock):  # Embedding, averaged, then a Dense head
    def __init__(self, **kw):
        super().__init__(**kw)
        self.emb = nn.Embedding(20, 8)
        self.fc = nn.Dense(3)

    def hybrid_forward(self, F, tokens):
        return self.fc(F.mean(self.emb(tokens), axis=1))


gluon("resblock", ResidualBlock(), [normal(2, 4, 8, 8)])
gluon("mobilenet_block", DepthwiseBlock(), [normal(1, 6, 7, 7)])
gluon("mlp", Mlp(), [normal(3, 2, 5)])
gluon("reshape_codes", ReshapeCodes(), [normal(2, 3, 4, 5)])
gluon("pools", Pools(), [normal(1, 2, 9, 8)])
gluon("misc", Misc(), [normal(1, 4, 5, 6)])
gluon("text", TextClassifier(), [rng.integers(0, 20, (2, 7)).astype(np.float32)])
# out-of-range and fractional token ids: MXNet truncates them and clips them to the table
gluon("text_clipped", TextClassifier(), [np.array([[-3, 1.7, 25, 19.9, 0, 5, 3]], np.float32)])

# A symbol-API classifier with a training head (SoftmaxOutput and its label), saved as a checkpoint.
data = mx.sym.var("data")
fc = mx.sym.FullyConnected(mx.sym.Flatten(data), num_hidden=6, name="fc")
act = mx.sym.Activation(fc, act_type="relu")
cube = mx.sym.Reshape(act, shape=(0, 2, 3))
sym = mx.sym.Group([mx.sym.SoftmaxOutput(act, name="softmax"),
                    mx.sym.SoftmaxOutput(cube, multi_output=True, name="softmax_m"),
                    mx.sym.SoftmaxOutput(cube, name="softmax_f"),
                    mx.sym.SoftmaxOutput(cube, preserve_shape=True, name="softmax_p")])
x = normal(4, 2, 3)
args = {"fc_weight": mx.nd.array(normal(6, 6)), "fc_bias": mx.nd.array(normal(6))}
labels = {"softmax_label": mx.nd.zeros((4,)), "softmax_m_label": mx.nd.zeros((4, 3)),
          "softmax_f_label": mx.nd.zeros((4, 2)), "softmax_p_label": mx.nd.zeros((4, 2))}
exe = sym.bind(mx.cpu(), {"data": mx.nd.array(x), **labels, **args}, grad_req="null")
outs = [o.asnumpy() for o in exe.forward(is_train=False)]
mx.model.save_checkpoint(f"{OUT}/softmax_output", 3, sym, args, {})
record("softmax_output", ["data"], [x], outs)

# Arrays of each dtype, as the .params reader must decode them.
dtypes = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64"]
mx.nd.save(f"{OUT}/dtypes.params", {f"arg:{d}": mx.nd.array(np.arange(6).reshape(2, 3) - 2 * (d[0] != "u"),
                                                                dtype=d) for d in dtypes})

# Networks of the Gluon model zoo (untrained, seeded weights) at a small resolution; last, so that
# the models above do not depend on whether they are built.
if not FIXTURES:
    for zoo, size in [("mobilenetv2_0.25", 64), ("mobilenet0.25", 64), ("resnet18_v1", 32)]:
        gluon("zoo_" + zoo.replace(".", "_"), vision.get_model(zoo, classes=10), [normal(1, 3, size, size)])
