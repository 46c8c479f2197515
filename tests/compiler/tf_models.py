"""TensorFlow models for the frontend tests, built in code (no downloads)."""

import keras
import numpy as np
import tensorflow as tf

L = keras.layers


def sequential_cnn() -> keras.Model:
    m = keras.Sequential([
        keras.Input((32, 32, 3), name="image"),
        L.Conv2D(8, 3, strides=2, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU(max_value=6.0),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), L.Activation("elu"),
        L.MaxPooling2D(2), L.Conv2D(12, 3, dilation_rate=2, padding="same", activation="sigmoid"),
        L.AveragePooling2D(2, padding="same"), L.Conv2D(16, 1, activation="swish"),
        L.Flatten(), L.Dropout(0.3), L.Dense(24, activation="tanh"), L.Dense(10, activation="softmax")])
    _randomize_bn(m)
    return m


def resnet_like() -> keras.Model:
    x = inp = keras.Input((24, 24, 3), name="pixels")
    x = L.Conv2D(16, 3, padding="same")(x)
    x = L.BatchNormalization()(x)
    x = L.ReLU()(x)
    for filters, stride in ((16, 1), (24, 2)):
        y = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = L.BatchNormalization()(y)
        y = L.ReLU()(y)
        y = L.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = L.BatchNormalization()(y)
        skip = x if stride == 1 else L.Conv2D(filters, 1, strides=stride)(x)
        x = L.ReLU()(L.Add()([y, skip]))
    up = L.Conv2DTranspose(8, 3, strides=2, padding="same")(x)
    up = L.UpSampling2D(2, interpolation="bilinear")(up)
    side = L.Concatenate()([L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(up)])
    out = L.Dense(6)(side)
    seg = L.Cropping2D(1)(L.ZeroPadding2D(2)(L.Conv2D(2, 1)(up)))
    m = keras.Model(inp, [out, seg], name="resnet_like")
    _randomize_bn(m)
    return m


def mobilenet_v2() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None)


def transformer_block(seq=10, d=32, heads=4) -> keras.Model:
    x = inp = keras.Input((seq, d), name="tokens")
    a = L.MultiHeadAttention(num_heads=heads, key_dim=d // heads)(x, x)
    x = L.LayerNormalization(epsilon=1e-6)(x + a)
    f = L.Dense(2 * d, activation="gelu")(x)
    x = L.LayerNormalization(epsilon=1e-6)(x + L.Dense(d)(f))
    return keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling1D()(x)), name="transformer")


class Module(tf.Module):
    """A tf.Module whose tf.function uses the ops Keras does not: explicit slicing, gathers,
    padding, resizing, reductions, matmuls with transposes."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.w = tf.Variable(rng.standard_normal((6, 8)).astype(np.float32))
        self.table = tf.Variable(rng.standard_normal((5, 6)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 4, 4, 6], tf.float32, name="x")])
    def __call__(self, x):
        y = tf.image.resize(x, (8, 8), method="bilinear")
        y = tf.pad(y, [[0, 0], [1, 1], [2, 0], [0, 0]], mode="REFLECT")
        y = tf.reduce_mean(y, axis=[1, 2])  # [b, 6]
        z = tf.matmul(y, self.w) + tf.gather(tf.reduce_sum(self.table, 1), [1, 3, 0, 4, 2, 2, 1, 0])
        s = tf.strided_slice(x, [0, 1, 0, 0], [0, 4, 4, 6], [1, 2, 1, 1], begin_mask=1, end_mask=1)
        n = tf.nn.softmax(tf.concat([z, tf.reshape(s, [-1, 48])[:, ::6]], axis=-1))
        return {"probs": n, "top": tf.reduce_max(tf.transpose(x, [0, 3, 1, 2]), axis=[2, 3])}


def _randomize_bn(m: keras.Model) -> None:
    rng = np.random.default_rng(1)
    for layer in m.layers:
        if isinstance(layer, L.BatchNormalization):
            g, b, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.uniform(-0.3, 0.3, b.shape),
                               rng.uniform(-0.3, 0.3, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
