"""FID and KID against closed forms and brute-force references; the feature extractors' loading and naming."""

import hashlib

import keras
import numpy as np
import pytest
import scipy.linalg

from vms_zoo import quality


def spd(rng, d):
    """A random symmetric positive definite matrix."""
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


def frechet_by_eigenvalues(mu1, s1, mu2, s2):
    """FID's formula with tr((S1 S2)^1/2) as the sum of the square roots of S1 S2's eigenvalues (real and >= 0:
    S1 S2 is similar to S1^1/2 S2 S1^1/2), independent of sqrtm."""
    eig = np.linalg.eigvals(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.sum(np.sqrt(np.clip(eig, 0, None))))


def test_fid_matches_the_closed_form_on_sample_moments():
    rng = np.random.default_rng(0)
    d = 4
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), spd(rng, d), spd(rng, d)
    a = rng.multivariate_normal(mu1, s1, size=3000)
    b = rng.multivariate_normal(mu2, s2, size=2000)
    m1, c1, m2, c2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    fid = quality.frechet_distance(a, b)
    assert fid == pytest.approx(frechet_by_eigenvalues(m1, c1, m2, c2), rel=1e-9)
    scipy_form = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2.0 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert fid == pytest.approx(scipy_form, rel=1e-9)
    assert quality.frechet_distance(b, a) == pytest.approx(fid, rel=1e-9)  # symmetric


def test_fid_of_gaussians_approaches_the_population_value():
    """The mean FID over independent draws is the population FID, within 5 standard errors plus FID's known
    small-sample bias (tr S1 / N1 + tr S2 / N2 from the means, as much again allowed for the covariances)."""
    rng = np.random.default_rng(1)
    d, n1, n2, draws = 3, 2000, 1500, 20
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), spd(rng, d), spd(rng, d)
    population = quality.frechet_moments(mu1, s1, mu2, s2)
    assert population == pytest.approx(frechet_by_eigenvalues(mu1, s1, mu2, s2), rel=1e-9)
    values = [quality.frechet_distance(rng.multivariate_normal(mu1, s1, n1), rng.multivariate_normal(mu2, s2, n2))
              for _ in range(draws)]
    standard_error = np.std(values, ddof=1) / np.sqrt(draws)
    bias = 2.0 * (np.trace(s1) / n1 + np.trace(s2) / n2)
    assert abs(np.mean(values) - population) < 5.0 * standard_error + bias
    # Diagonal (commuting) covariances: (S1 S2)^1/2 is the elementwise sqrt of the diagonals' product.
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert quality.frechet_moments(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(closed, rel=1e-12)


def test_fid_of_a_set_with_itself_is_zero_and_a_shift_costs_its_square():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(50, 8))
    assert quality.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = rng.normal(size=8)
    assert quality.frechet_distance(a, a + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-6)
    # Fewer samples than features: singular covariances, whose product's square root is complex round-off or not
    # finite; the result is still a real number, 0 for the set with itself.
    few = rng.normal(size=(10, 32))
    assert quality.frechet_distance(few, few) == pytest.approx(0.0, abs=1e-3)
    other = rng.normal(size=(12, 32)) + 0.5
    m1, c1, m2, c2 = few.mean(0), np.cov(few, rowvar=False), other.mean(0), np.cov(other, rowvar=False)
    fid = quality.frechet_distance(few, other)
    assert isinstance(fid, float) and fid == pytest.approx(frechet_by_eigenvalues(m1, c1, m2, c2), rel=1e-3)


def test_distances_refuse_bad_features():
    good = np.zeros((4, 3))
    for a, b, match in ((np.zeros((4, 3)), np.zeros((4, 2)), "same width"), (np.zeros((1, 3)), good, "N >= 2"),
                        (np.zeros((2, 3, 1)), good, r"\(N, D\)"), (np.full((4, 3), np.nan), good, "NaN")):
        for distance in (quality.frechet_distance, quality.kernel_distance):
            with pytest.raises(ValueError, match=match):
                distance(a, b)
    with pytest.raises(ValueError, match="subset_size >= 2"):
        quality.kernel_distance(good, good, subset_size=1)


def brute_force_mmd2(x, y, unbiased=True):
    """MMD^2 with the kernel (x.y / d + 1)^3, pair by pair: unbiased (U-statistic, i != j) or biased
    (V-statistic, every pair)."""
    d = x.shape[1]

    def k(u, v):
        return (u @ v / d + 1.0) ** 3

    def within(z):
        terms = [k(z[i], z[j]) for i in range(len(z)) for j in range(len(z)) if i != j or not unbiased]
        return sum(terms) / len(terms)

    cross = sum(k(u, v) for u in x for v in y) / (len(x) * len(y))
    return within(x) + within(y) - 2.0 * cross


def test_kid_equals_the_unbiased_mmd2_computed_pair_by_pair():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(5, 3)) + 0.3
    assert quality.kernel_distance(a, b, subset_size=None) == pytest.approx(brute_force_mmd2(a, b), rel=1e-10)
    # Subsets as large as the sets are the whole sets, in another order: the same value, however many.
    c = rng.normal(size=(7, 3))
    full = quality.kernel_distance(a, c, subset_size=None)
    assert quality.kernel_distance(a, c, subset_size=7, num_subsets=4) == pytest.approx(full, rel=1e-10)
    assert quality.kernel_distance(a, c, subset_size=1000, num_subsets=2) == pytest.approx(full, rel=1e-10)
    # Smaller subsets: each value is the brute-force MMD^2 of some 4 + 4 rows; the draws follow the seed.
    values = quality.kid_subsets(a, c, subset_size=4, num_subsets=6, seed=5)
    assert values.shape == (6,) and len(set(np.round(values, 12))) > 1
    np.testing.assert_array_equal(values, quality.kid_subsets(a, c, subset_size=4, num_subsets=6, seed=5))
    assert quality.kernel_distance(a, c, subset_size=4, num_subsets=6, seed=5) == pytest.approx(values.mean())


def test_kid_is_unbiased_where_the_plain_mmd2_is_not():
    """Between two samples of one distribution KID averages to 0 (within 4 standard errors over many draws),
    while the biased estimate of the same draws sits well above 0: the test can tell them apart."""
    rng = np.random.default_rng(4)
    draws, n, d = 300, 8, 5
    kid, biased = [], []
    for _ in range(draws):
        x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        kid.append(quality.kernel_distance(x, y, subset_size=None))
        biased.append(brute_force_mmd2(x, y, unbiased=False))
    kid, biased = np.array(kid), np.array(biased)
    assert abs(kid.mean()) < 4.0 * kid.std(ddof=1) / np.sqrt(draws)
    assert biased.mean() > 4.0 * biased.std(ddof=1) / np.sqrt(draws)
    shifted = quality.kernel_distance(rng.normal(size=(200, d)), rng.normal(size=(200, d)) + 1.0, subset_size=100)
    assert shifted > 10.0 * kid.std(ddof=1)  # a real difference stands out of the noise


def test_compare_names_its_extractor_and_sizes():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    r = quality.compare(a, b, "toy_features", subset_size=20, num_subsets=5, seed=1)
    assert r["extractor"] == "toy_features" and r["num_images"] == 30 and r["num_real"] == 40
    assert r["fid"] == pytest.approx(quality.frechet_distance(a, b))
    assert r["kid"] == pytest.approx(quality.kernel_distance(a, b, 20, 5, seed=1)) and r["kid_subset_size"] == 20
    assert r["kid_std"] == pytest.approx(quality.kid_subsets(a, b, 20, 5, seed=1).std())
    assert quality.compare(a, b, "x", subset_size=1000)["kid_subset_size"] == 30


def mean_colour_network(size=None):
    """A stand-in feature network: the image's mean colour, (N, 3)."""
    x = keras.Input((size, size, 3))
    return keras.Model(x, keras.layers.GlobalAveragePooling2D()(x))


def centre_colour_network(size):
    """A stand-in feature network for large inputs: the centre pixel's colour, (N, 3) (a float32 mean over
    299 x 299 pixels would be off by its round-off)."""
    x = keras.Input((size, size, 3))
    return keras.Model(x, keras.layers.Lambda(lambda t: t[:, size // 2, size // 2, :])(x))


def constant_images(rng, n, size):
    """Images of one colour each: every resize keeps the colour, so features have a closed form."""
    colours = rng.uniform(size=(n, 1, 1, 3)).astype("float32")
    return np.broadcast_to(colours, (n, size, size, 3)).copy(), colours.reshape(n, 3)


def test_an_extractor_runs_its_network_in_batches():
    rng = np.random.default_rng(6)
    images, colours = constant_images(rng, 5, 8)
    extractor = quality.Extractor("mean_colour", mean_colour_network(8), lambda x: 1.0 - x)
    np.testing.assert_allclose(extractor(images, batch_size=2), 1.0 - colours, atol=1e-6)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        extractor(images * 255.0)


@pytest.fixture
def inception_stand_in(monkeypatch, tmp_path):
    """keras.applications.InceptionV3 replaced by the centre-colour network (the real one takes a minute to build
    on JAX): records the weights file it is given. Keras' cache lives in tmp_path."""
    given = []

    def stand_in(include_top, weights, pooling, input_shape):
        assert not include_top and pooling == "avg" and input_shape == (299, 299, 3)
        given.append(weights)
        return centre_colour_network(299)

    monkeypatch.setattr(keras.applications, "InceptionV3", stand_in)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return given


def test_inception_weights_come_from_keras_cache_or_a_local_file(inception_stand_in, tmp_path, monkeypatch):
    source = tmp_path / "published" / quality.INCEPTION_FILE
    source.parent.mkdir()
    source.write_bytes(b"stand-in weights")
    monkeypatch.setattr(quality, "INCEPTION_URL", source.as_uri())
    monkeypatch.setattr(quality, "INCEPTION_MD5", hashlib.md5(source.read_bytes()).hexdigest())
    extractor, note = quality.feature_extractor("inception")
    cached = tmp_path / "keras" / "models" / quality.INCEPTION_FILE
    assert note is None and inception_stand_in == [str(cached)] and cached.read_bytes() == b"stand-in weights"
    sha = hashlib.sha256(b"stand-in weights").hexdigest()
    assert extractor.name == f"inception_v3_pool:{sha[:12]}"
    # InceptionV3's input: bilinear resize to 299 and [0, 1] -> [-1, 1]; a constant colour c comes out as 2c - 1.
    images, colours = constant_images(np.random.default_rng(7), 3, 32)
    np.testing.assert_allclose(extractor(images), 2.0 * colours - 1.0, atol=1e-5)
    local, _ = quality.feature_extractor(f"inception:{source}")  # a local file is used where it is
    assert inception_stand_in[-1] == str(source) and local.name == extractor.name
    with pytest.raises(FileNotFoundError, match="No InceptionV3 weights file"):
        quality.feature_extractor(f"inception:{tmp_path / 'nope.h5'}")


def test_inception_offline_names_the_file_and_where_it_goes(inception_stand_in, tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "INCEPTION_URL", (tmp_path / "unreachable" / quality.INCEPTION_FILE).as_uri())
    with pytest.raises(OSError) as error:
        quality.feature_extractor("inception")
    message = str(error.value)
    assert "\n" not in message and quality.INCEPTION_FILE in message
    assert str(tmp_path / "keras" / "models") in message and "inception:PATH" in message
    assert inception_stand_in == []  # nothing was built


def test_auto_takes_resmem_then_cached_inception_else_says_why(inception_stand_in, tmp_path, monkeypatch):
    def missing(resmem=None):
        raise ImportError('ResMem needs its wheel: pip install "vms-zoo[memorability]"')

    monkeypatch.setattr(quality, "resmem_features", missing)
    extractor, note = quality.feature_extractor("auto")
    assert extractor is None and "vms-zoo[memorability]" in note and "InceptionV3" in note
    with pytest.raises(ImportError, match="memorability"):
        quality.feature_extractor("resmem")  # asked for by name: its own error
    cached = tmp_path / "keras" / "models" / quality.INCEPTION_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cached")
    monkeypatch.setattr(quality, "INCEPTION_MD5", hashlib.md5(b"cached").hexdigest())
    extractor, note = quality.feature_extractor("auto")
    assert note is None and extractor.name.startswith("inception_v3_pool:")
    monkeypatch.setattr(quality, "resmem_features", lambda resmem=None: centre_colour_network(227))
    monkeypatch.setattr(quality, "resmem_prepare", lambda x: keras.ops.image.resize(x, (227, 227)))
    extractor, note = quality.feature_extractor("auto")
    images, colours = constant_images(np.random.default_rng(8), 2, 16)
    assert extractor.name == "resmem_resnet152_pool" and note is None
    np.testing.assert_allclose(extractor(images), colours, atol=1e-5)
    assert quality.feature_extractor("none") == (None, None)
    for bad in ("inceptionv3", "inception:", "fid"):
        with pytest.raises(ValueError, match="Unknown feature extractor"):
            quality.feature_extractor(bad)
