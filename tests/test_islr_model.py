"""ISLR model and training edge cases (issue 7): bad model arguments, AWP in graph mode, the one-cycle schedule's
shape, and TTA on records without a usable frame. The facts a reader should see proved (parameter count, masking,
the AWP step, the seed's weight decay, CFG) are the notebooks' (09, 10, 10b, 10c, 10e)."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from sign_notes.landmarks import CHANNELS, PAD  # noqa: E402
from sign_notes.islr.awp import AWP  # noqa: E402
from sign_notes.islr.evaluate import predict_tfrec, _tta_dataset  # noqa: E402
from sign_notes.islr.model import get_model  # noqa: E402
from sign_notes.islr.optim import OneCycleLR  # noqa: E402


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="dim"):
        get_model(dim=30)
    with pytest.raises(ValueError, match="max_len"):
        get_model(max_len=0)


def _tiny_awp(cls=AWP, lr=1e-3, run_eagerly=True, **kw):
    base = get_model(max_len=16, dim=32, num_classes=5)
    m = cls(base.input, base.output, delta=0.2, eps=0.0, **kw)
    m.compile(
        optimizer=keras.optimizers.AdamW(lr, weight_decay=0.0 if lr == 0 else 0.1),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=["categorical_accuracy"],
        run_eagerly=run_eagerly,
    )
    x = np.random.default_rng(0).normal(size=(8, 16, CHANNELS)).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 5, 5)
    return m, x, y


def test_awp_in_graph_mode_with_zero_lr_leaves_weights_unchanged():
    m, x, y = _tiny_awp(lr=0.0, start_step=1, run_eagerly=False)  # a traced train_step: tf.cond, both branches
    before = [v.numpy().copy() for v in m.trainable_variables]
    m.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert int(m.optimizer.iterations.numpy()) == 4  # 1 plain step, then 3 AWP steps
    for a, v in zip(before, m.trainable_variables):
        assert np.array_equal(a, v.numpy())


def test_one_cycle_shape():
    s = OneCycleLR(1e-3, 20, steps_per_epoch=10, warmup_epochs=2, sustain_epochs=1, decay_epochs=20, lr_min=1e-5)
    steps = np.arange(0, 201)
    lr = np.asarray(s(steps))
    assert lr[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(lr[:21]) > 0)  # linear warm-up
    np.testing.assert_allclose(lr[20:31], 1e-3, rtol=1e-6)  # peak, then the plateau
    assert np.all(np.diff(lr[30:]) <= 1e-12)  # cosine decay
    assert lr[-1] == pytest.approx(1e-5, rel=1e-4)
    mid = 30 + (200 - 30) // 2
    assert lr[mid] == pytest.approx((1e-3 - 1e-5) / 2 + 1e-5, rel=1e-3)  # cosine: half-way at mid-decay
    lin = OneCycleLR(1.0, 10, steps_per_epoch=1, decay_epochs=10, lr_min=0.0, decay_type="linear")
    np.testing.assert_allclose(np.asarray(lin(np.arange(11))), np.linspace(1, 0, 11), atol=1e-6)
    with pytest.raises(ValueError, match="warmup_type"):
        OneCycleLR(warmup_type="step")


@pytest.fixture(scope="module")
def tiny_tfrecords(tmp_path_factory):
    "One GZIP TFRecord file: 3 sequences of 3 classes with landmarks, and one with no usable frame (all NaN)."
    from sign_notes.islr.tfrecord import serialize_example, write_tfrecord

    rng = np.random.default_rng(0)
    seqs = [rng.uniform(0.2, 0.8, (n, 543, 3)).astype("float32") for n in (12, 20, 7)]
    for s in seqs:
        s[:, 468:489] = np.nan  # one hand missing, like real data
    recs = [serialize_example(s, k) for k, s in enumerate(seqs)]
    recs.insert(1, serialize_example(np.full((5, 543, 3), np.nan, "float32"), 2))
    path = tmp_path_factory.mktemp("islr_tfrec") / "fold0-0-4.tfrecords"
    write_tfrecord(path, recs)
    return path, seqs


def test_tta_pairs_are_the_record_and_its_mirror_image(tiny_tfrecords):
    from sign_notes.islr.tfrecord import preprocess
    from sign_notes.islr.augment import flip_lr

    path, seqs = tiny_tfrecords
    x, xf, y = next(iter(_tta_dataset([path], max_len=16, batch_size=8, num_classes=3)))
    assert x.shape[0] == 3 and y.numpy().tolist() == [0, 1, 2]  # the record without a usable frame is dropped
    for i, s in enumerate(seqs):
        rec = {"coordinates": tf.constant(s), "sign": tf.constant(i, tf.int64)}
        f, _ = preprocess(rec, max_len=16, num_classes=3)
        ff, _ = preprocess({"coordinates": flip_lr(tf.constant(s)), "sign": rec["sign"]}, max_len=16, num_classes=3)
        n = f.shape[0]
        np.testing.assert_allclose(x[i, :n].numpy(), f.numpy(), atol=1e-6)
        np.testing.assert_allclose(xf[i, :n].numpy(), ff.numpy(), atol=1e-6)
        assert np.abs(f.numpy() - ff.numpy()).max() > 1e-2 and (x[i, n:].numpy() == PAD).all()


def test_predict_tfrec_skips_records_without_a_usable_frame(tiny_tfrecords):
    path, _ = tiny_tfrecords
    m = get_model(max_len=16, dim=32, num_classes=3)
    p = predict_tfrec(m, [path])
    assert p["logits"].shape == (3, 3) and p["labels"].tolist() == [0, 1, 2]
    assert np.abs(p["logits_flip"] - p["logits"]).max() > 1e-4  # the flipped pass sees other features
    assert predict_tfrec(m, [path], tta=False)["logits_flip"] is None
