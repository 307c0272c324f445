"""GAN images from folders and LSUN stream: a source knows its length and decodes only the images a batch takes
(240,000 LSUN scenes at 256 px would be 189 GB as one float32 array), in an order set by the seed and the epoch."""

import numpy as np
import pytest

import photo_data
from vms_zoo import io as image_io
from vms_zoo.data import sources
from vms_zoo.training.memgan import ImageStream

pytest.importorskip("tensorflow")

from vms_zoo.data.images import list_images  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return photo_data.image_folder(tmp_path_factory.mktemp("photos"))  # 20 files


@pytest.fixture
def decoded(monkeypatch):
    """The image files decoded so far (every reader of user images goes through `vms_zoo.io.open_image`)."""
    paths, open_image = [], image_io.open_image
    monkeypatch.setattr(image_io, "open_image", lambda path, size=None: paths.append(path) or open_image(path, size))
    return paths


def test_a_folder_streams_batches_that_decode_only_their_images(folder, decoded):
    images = sources.gan_source(f"folder:{folder}", 16)
    assert isinstance(images, sources.LazyImages) and images.shape == (20, 16, 16, 3) and len(images) == 20
    assert len(decoded) == 1  # the first image only: a folder without one readable image fails at once
    batches = sources.EpochBatches(images, None, 6, seed=3)
    assert len(batches) == 3  # whole batches: 20 images fill 3 of 6
    first = batches[0]
    assert first.shape == (6, 16, 16, 3) and first.dtype == np.float32 and 0 <= first.min() <= first.max() <= 1
    assert len(decoded) == 1 + 6  # the batch's six files, nothing else
    order = np.random.default_rng((3, 0)).permutation(20)
    assert decoded[1:] == [list_images(str(folder))[i] for i in order[:6]]
    for index in range(1, len(batches)):
        batches[index]
    assert len(decoded) == 1 + 18 and len(set(decoded[1:])) == 18  # an epoch: each image at most once

    again = sources.EpochBatches(sources.gan_source(f"folder:{folder}", 16), None, 6, seed=3)
    np.testing.assert_array_equal(again[0], first)  # the same seed: the same order
    assert not np.array_equal(sources.EpochBatches(images, None, 6, seed=4)[0], first)
    again.epoch_callback().on_epoch_begin(1)
    assert not np.array_equal(again[0], first)  # a new order each epoch


def test_images_are_rgb_in_the_unit_range_whatever_their_mode(folder):
    from PIL import Image

    images = sources.gan_source(f"folder:{folder}", 8)
    paths = list_images(str(folder))
    for i, path in enumerate(paths):
        image = images[i]
        assert image.shape == (8, 8, 3) and image.dtype == np.float32 and 0 <= image.min() <= image.max() <= 1
        mode = Image.open(path).mode
        if mode in ("L", "I;16"):  # greyscale, 16-bit scaled by 65535: three equal channels
            np.testing.assert_allclose(image[..., 0], image[..., 2], atol=1e-6)
    deep = paths.index(next(p for p in paths if p.endswith("astronaut_16bit.png")))
    grey = paths.index(next(p for p in paths if p.endswith("astronaut_grey.png")))
    # 16-bit is scaled by 65535, not clipped at 255 (all white): the same brightness as the 8-bit grey copy (Pillow
    # box-reduces 8-bit images before resizing, so pixels differ by the resampling)
    assert abs(images[deep].mean() - images[grey].mean()) < 0.05 and images[deep].mean() < 0.9


def test_memgan_streams_each_stage_batch_at_its_resolution(folder, decoded):
    images = sources.gan_source(f"folder:{folder}", 16)
    stream = ImageStream(images, 4, batch_size=5, start=18, steps=2, seed=1)
    decoded.clear()
    batch = stream[0]
    assert batch.shape == (5, 4, 4, 3) and len(decoded) == 5  # images 18 .. 22 of the stream: two passes
    rows = [np.random.default_rng((1, k // 20)).permutation(20)[k % 20] for k in range(18, 23)]
    np.testing.assert_allclose(batch, sources.box_downsample(images[rows], 4), atol=1e-6)


def test_an_unreadable_file_gives_its_place_to_the_next_readable_one(tmp_path, capsys):
    import shutil

    for name, photo in zip(("a.jpg", "c.jpg"), photo_data.PHOTOS):
        shutil.copy(photo, tmp_path / name)
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    images = sources.gan_source(f"folder:{tmp_path}", 8)
    assert len(images) == 3
    np.testing.assert_array_equal(images[[1]], images[[2]])  # whole batches: c.jpg stands in for b.jpg
    images[1]
    out = capsys.readouterr().out
    assert out.count("Skipping an unreadable image") == 1 and f"Cannot read image {tmp_path / 'b.jpg'}" in out


def test_lsun_streams_from_a_random_access_tfds_source(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=7, policy=tfds.testing.MockPolicy.USE_CODE):
        images = sources.gan_source(f"lsun:{tmp_path}", 8, category="kitchen", limit=5)
        assert isinstance(images, sources.LazyImages) and len(images) == 5
        batch = sources.EpochBatches(images, None, 2, seed=0)[1]
        assert batch.shape == (2, 8, 8, 3) and batch.dtype == np.float32 and 0 <= batch.min() <= batch.max() <= 1
    with pytest.raises(ValueError, match=f"{tmp_path}: no LSUN kitchen there; expected kitchen_train_lmdb.zip") as e:
        sources.gan_source(f"lsun:{tmp_path}", 8, category="kitchen")
    assert "\n" not in str(e.value)
