"""The lean tf.data path (issue 15): `get_tfrec_dataset(lean=True)`, which augments and preprocesses only the landmark
rows the features read, gives the same examples as the seed's map over all 543 rows (`lean=False`), bit for bit, on
whole augmented epochs under a fixed seed; unseeded, the same code draws from the global generator (same
distributions, checked on the lengths)."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from sign_notes.landmarks import PAD, POINT_LANDMARKS  # noqa: E402
from sign_notes.synth import make_synthetic_islr  # noqa: E402
from sign_notes.islr.augment import FEATURE_ROWS, RESAMPLE_ROWS, augment_fn, augment_rows  # noqa: E402
from sign_notes.islr.tfrecord import (  # noqa: E402
    get_tfrec_dataset,
    serialize_example,
    write_tfrecord,
    write_tfrecords,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    "A synthetic dataset (hands come and go), plus a file of clips with random holes and whole rows missing."
    d = tmp_path_factory.mktemp("lean")
    root = make_synthetic_islr(d / "src", n_signs=4, n_per_sign=4, n_participants=2, seed=5, progress=False)
    files = write_tfrecords(root, d / "tfr", n_folds=2, n_workers=1, progress=False)
    rng = np.random.default_rng(0)
    clips = []
    for k in range(8):
        x = rng.random((int(rng.integers(3, 90)), 543, 3)).astype(np.float32)
        x[rng.random(x.shape[:2]) < 0.15] = np.nan
        x[:, rng.choice(543, 30)] = np.nan
        x[rng.random(len(x)) < 0.2] = np.nan  # empty frames, dropped by filter_nans_tf
        x[0, POINT_LANDMARKS[0]] = 0.5  # at least one usable frame
        clips.append(serialize_example(x, k % 4))
    write_tfrecord(d / "tfr" / "holes-8.tfrecords", clips)
    return files + [d / "tfr" / "holes-8.tfrecords"]


def examples(files, lean, **kw):
    ds = get_tfrec_dataset(files, lean=lean, num_classes=4, **kw)
    return [(x.numpy(), y.numpy()) for x, y in ds]


@pytest.mark.parametrize("augment", [True, False])
def test_lean_pipeline_gives_the_same_examples_bit_for_bit(files, augment):
    kw = dict(batch_size=None, max_len=32, augment=augment, seed=3)
    plain = examples(files, False, **kw)
    for _ in range(3 if augment else 1):  # augmented: three epochs' worth of different draws per record
        lean = examples(files, True, **kw)
        assert len(lean) == len(plain) == 24
        for (a, ya), (b, yb) in zip(plain, lean):
            assert a.shape == b.shape and a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(ya, yb)
        kw["seed"] += 1
        plain = examples(files, False, **kw)


def test_lean_training_batches_are_the_same(files):
    "As train_fold reads them: repeated, shuffled (seeded), padded batches."
    kw = dict(batch_size=8, max_len=24, augment=True, repeat=True, shuffle=16, drop_remainder=True, seed=42)
    plain = list(get_tfrec_dataset(files, lean=False, num_classes=4, **kw).take(9))
    lean = list(get_tfrec_dataset(files, lean=True, num_classes=4, **kw).take(9))
    for (a, ya), (b, yb) in zip(plain, lean):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_lean_unseeded_draws_alike(files):
    "Unseeded (the seed's global generator): not the same draws, the same distribution of clip lengths."
    tf.random.set_seed(0)

    def lengths(lean):
        ds = get_tfrec_dataset(files, lean=lean, num_classes=4, batch_size=None, max_len=64, augment=True, repeat=True)
        return np.array([int((x.numpy() != PAD).any(-1).sum()) for x, _ in ds.take(480)])

    a, b = lengths(False), lengths(True)
    assert abs(a.mean() - b.mean()) < 0.1 * a.mean(), (a.mean(), b.mean())
    assert abs(np.median(a) - np.median(b)) <= 0.15 * np.median(a) + 1


def test_augment_rows_is_augment_fn_on_the_feature_rows():
    rng = np.random.default_rng(2)
    for k in range(40):
        x = rng.random((int(rng.integers(1, 120)), 543, 3)).astype(np.float32)
        x[rng.random(x.shape[:2]) < 0.3] = np.nan
        x = x[~np.isnan(x[:, POINT_LANDMARKS]).all((1, 2))]
        if not len(x):
            continue
        ref = augment_fn(x, always=k % 4 == 0, max_len=48, seed=k).numpy()[:, FEATURE_ROWS]
        out = augment_rows(x[:, RESAMPLE_ROWS], always=k % 4 == 0, max_len=48, seed=k).numpy()
        np.testing.assert_array_equal(out, ref)


def test_cached_rows_give_the_same_batches(files):
    "cache=True (what 'auto' picks for a small dataset) reads the files once; the batches do not change."
    kw = dict(batch_size=8, max_len=24, augment=True, repeat=True, shuffle=16, seed=7, num_classes=4)
    a = list(get_tfrec_dataset(files, cache=False, **kw).take(8))  # 64 clips: over two epochs of 24
    b = list(get_tfrec_dataset(files, cache=True, **kw).take(8))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
