import numpy as np
import tensorflow as tf

from vms_zoo.data.augment import JointAugment


def _scene_with_bright_square(n=16, size=32):
    images = np.zeros((n, size, size, 3), np.float32)
    vms = np.zeros((n, size, size, 2), np.float32)
    images[:, 4:9, 4:9, :] = 1.0
    vms[:, 4:9, 4:9, 0] = 1.0
    return images, vms


def test_map_peak_moves_with_the_bright_object():
    images, vms = _scene_with_bright_square()
    ds = tf.data.Dataset.from_tensor_slices((images, vms)).batch(16).map(JointAugment(seed=7))
    out_images, out_vms = (np.asarray(t) for t in next(iter(ds)))
    moved = 0
    for img, m in zip(out_images, out_vms):
        assert 0.0 <= img.min() and img.max() <= 1.0 and 0.0 <= m.min() and m.max() <= 1.0
        obj = np.argwhere(img.mean(-1) > 0.5).mean(0)
        peak = np.argwhere(m[..., 0] > 0.5).mean(0)
        np.testing.assert_allclose(obj, peak, atol=0.5)
        np.testing.assert_allclose(img[..., 0], m[..., 0], atol=1e-5)  # same transform, pixel for pixel
        moved += not np.allclose(obj, [6.0, 6.0], atol=0.5)
    assert moved >= 8  # the transform really moves things


def test_no_augmentation_is_identity():
    images, vms = _scene_with_bright_square(2)
    out_images, out_vms = JointAugment(shift=0, zoom=0, flip=False)(tf.constant(images), tf.constant(vms))
    np.testing.assert_array_equal(np.asarray(out_images), images)
    np.testing.assert_array_equal(np.asarray(out_vms), vms)
