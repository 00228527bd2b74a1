"""ISLR 1st-place model and training (issue 7): parameter count, masking, AWP/FGM steps, one-cycle schedule, the seed's weight decay, CFG, TTA."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from sign_notes.landmarks import CHANNELS  # noqa: E402
from sign_notes.islr.preprocess import PAD  # noqa: E402
from sign_notes.islr.model import get_model, any_length, model_dims, CausalDWConv1D  # noqa: E402
from sign_notes.islr.train import (
    AWP,
    FGM,
    CFG,
    OneCycleLR,
    SeedAdamW,
    decay_schedule,
    lr_schedule,
    make_optimizer,  # noqa: E402
    topk_accuracy,
    resolve_cfg,
    start_steps,
    train_fold,
    predict_tfrec,
    _tta_dataset,
)


def test_parameter_count_matches_the_seed():
    assert get_model(max_len=384, dim=192).count_params() == 1_836_569
    assert get_model(max_len=None, dim=192).count_params() == 1_836_569  # no weight depends on the length


def test_every_layer_but_the_input_supports_masking():
    m = get_model(max_len=32, dim=32, num_classes=5)
    assert [l.__class__.__name__ for l in m.layers if not l.supports_masking] == ["InputLayer"]


def test_padded_frames_do_not_change_the_output():
    m = get_model(max_len=None, dim=32, num_classes=7)
    x = np.random.default_rng(0).normal(size=(2, 13, CHANNELS)).astype("float32")
    padded = np.concatenate([x, np.full((2, 19, CHANNELS), PAD, "float32")], axis=1)
    a, b = m(x, training=False).numpy(), m(padded, training=False).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    zeros = padded.copy()
    zeros[:, 13:] = 0.0  # not PAD: these frames are real, and change it
    assert np.abs(m(zeros, training=False).numpy() - a).max() > 1e-4


def test_causal_conv_does_not_look_ahead():
    conv = CausalDWConv1D(17, name="t")
    x = np.random.default_rng(1).normal(size=(1, 30, 4)).astype("float32")
    y = x.copy()
    y[:, 20:] += 3.0
    d = np.abs(conv(x).numpy() - conv(y).numpy()).max(axis=(0, 2))
    assert d[:20].max() == 0.0 and d[20:].min() > 0


def test_any_length_copies_a_fixed_length_model():
    fixed = get_model(max_len=16, dim=32, num_classes=4)
    flex = any_length(fixed)
    assert model_dims(flex) == {"dim": 32, "num_classes": 4, "max_len": None}
    x = np.random.default_rng(2).normal(size=(1, 16, CHANNELS)).astype("float32")
    np.testing.assert_allclose(flex(x, training=False).numpy(), fixed(x, training=False).numpy(), atol=1e-5)
    assert flex(x[:, :5], training=False).shape == (1, 4)
    with pytest.raises(ValueError, match="get_model"):
        any_length(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


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


def _record_passes(m):
    "Wrap m.loss_and_gradients: a list of (weights seen, gradients) for every forward/backward pass."
    passes, inner = [], m.loss_and_gradients

    def recorded(x, y, sample_weight=None):
        seen = [v.numpy().copy() for v in m.trainable_variables]
        loss, y_pred, grads = inner(x, y, sample_weight)
        passes.append((seen, [np.asarray(g) for g in grads]))
        return loss, y_pred, grads

    m.loss_and_gradients = recorded
    return passes


def _step(g, delta=0.2):
    "The seed's AWP step for one tensor: delta * g / ||g|| (0 for a zero gradient)."
    g = np.asarray(g, np.float64)
    n = np.linalg.norm(g)
    return delta * g / n if n > 0 else np.zeros_like(g)


def test_awp_perturbs_each_tensor_by_delta_along_its_gradient_then_restores_exactly():
    m, x, y = _tiny_awp()
    before = [v.numpy().copy() for v in m.trainable_variables]
    passes = _record_passes(m)
    m.adversarial_loss_and_gradients(x, y)
    assert len(passes) == 2
    (w1, g1), (w2, _) = passes
    for a, b in zip(before, w1):
        assert np.array_equal(a, b)  # the first pass sees the weights
    moved = 0
    for a, b, g in zip(w1, w2, g1):  # the second sees w + delta * g / ||g||
        np.testing.assert_allclose(b.astype(np.float64) - a, _step(g), atol=1e-6)
        moved += bool(np.abs(b - a).max() > 0)
    assert moved > len(g1) // 2
    for a, v in zip(before, m.trainable_variables):
        assert np.array_equal(a, v.numpy())  # restored bit for bit


def test_awp_train_step_with_zero_lr_leaves_weights_unchanged():
    m, x, y = _tiny_awp(lr=0.0, start_step=1)  # step 0 normal, then AWP steps
    before = [v.numpy().copy() for v in m.trainable_variables]
    hist = m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert int(m.optimizer.iterations.numpy()) == 2
    assert set(hist.history) == {"loss", "categorical_accuracy"}
    for a, v in zip(before, m.trainable_variables):
        assert np.array_equal(a, v.numpy())


def test_awp_in_graph_mode_with_zero_lr_leaves_weights_unchanged():
    m, x, y = _tiny_awp(lr=0.0, start_step=1, run_eagerly=False)  # a traced train_step: tf.cond, both branches
    before = [v.numpy().copy() for v in m.trainable_variables]
    m.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert int(m.optimizer.iterations.numpy()) == 4  # 1 plain step, then 3 AWP steps
    for a, v in zip(before, m.trainable_variables):
        assert np.array_equal(a, v.numpy())


def test_fgm_perturbs_only_the_stem():
    m, x, y = _tiny_awp(FGM)
    assert m.adversarial_indices() == [0] and m.trainable_variables[0].path.startswith("stem_conv")
    passes = _record_passes(m)
    m.adversarial_loss_and_gradients(x, y)
    (w1, g1), (w2, _) = passes
    np.testing.assert_allclose(w2[0].astype(np.float64) - w1[0], _step(g1[0]), atol=1e-6)
    assert np.linalg.norm(w2[0] - w1[0]) == pytest.approx(0.2, rel=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(w1[1:], w2[1:]))  # no other tensor moved
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(w1, m.trainable_variables))


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


def test_seed_adamw_applies_the_seeds_decay_per_step():
    "tfa's RectifiedAdam(weight_decay=decay_schedule) shrank w by lr_t * decay_schedule(t) per step; so must we."
    cfg = CFG.quick(epoch=2)
    opt = make_optimizer(cfg, steps_per_epoch=4)
    w = keras.Variable(np.ones(3), dtype="float64")
    opt.build([w])  # float64: the shrinks are ~1e-7
    for _ in range(8):
        before, step = w.numpy().copy(), int(opt.iterations.numpy())
        opt.apply([np.zeros(3)], [w])  # zero gradient: only the decay acts
        applied = (before - w.numpy())[0] / before[0]
        lr_t, wd_t = float(lr_schedule(cfg, 4)(step)), float(decay_schedule(cfg, 4)(step))
        assert applied == pytest.approx(lr_t * wd_t, rel=1e-9)
        assert applied < 0.01 * lr_t * cfg.weight_decay  # not Keras AdamW's lr_t * weight_decay
    again = SeedAdamW.from_config(opt.get_config())
    assert again.weight_decay_schedule.get_config() == decay_schedule(cfg, 4).get_config()


def test_seed_adamw_with_a_constant_is_keras_adamw():
    opt = SeedAdamW(1e-2, weight_decay=0.1)
    w = keras.Variable(np.ones(2), dtype="float64")
    opt.build([w])
    opt.apply([np.zeros(2)], [w])
    np.testing.assert_allclose(1 - w.numpy(), 1e-3, rtol=1e-6)


def test_cfg_scales_with_replicas():
    full = CFG.full()
    assert (full.lr, full.batch_size) == (pytest.approx(4e-3), 512)
    one = full.with_replicas(1)
    assert (one.lr, one.batch_size, one.comment) == (pytest.approx(5e-4), 64, "islr-fp16-192-1-seed42")
    with pytest.raises(ValueError, match="decay_type"):
        CFG(decay_type="step")
    two = resolve_cfg(CFG.quick(), 2)  # what train_fold does with 2 devices
    assert (two.replicas, two.lr, two.batch_size) == (2, pytest.approx(2 * CFG.quick().lr), 2 * CFG.quick().batch_size)
    assert two.comment == "islr-fp16-64-2-seed42"
    q = CFG.quick()
    assert resolve_cfg(q, 1) is q and resolve_cfg(q) is q


def test_train_fold_accepts_the_cfg_class_like_the_seed():
    assert resolve_cfg(CFG) == CFG.full()
    assert resolve_cfg(CFG, 1).batch_size == 64
    with pytest.raises(ValueError, match="no training files"):  # got past the settings, to the files
        train_fold(CFG, 0, [])
    with pytest.raises(ValueError, match="cfg must be a CFG"):
        train_fold({"epoch": 1}, 0, ["fold1-0-1.tfrecords"])


def test_resume_moves_awp_start_not_late_dropout():
    assert start_steps(CFG.quick(), 10) == (80, 80)
    assert start_steps(CFG.quick(resume=5), 10) == (80, 30)  # optimizer.iterations restarts at 0
    assert start_steps(CFG.quick(resume=12), 10) == (80, 0)


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


def test_topk_accuracy():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3]])
    assert topk_accuracy(logits, np.array([1, 2]), 1) == 0.5
    assert topk_accuracy(logits, np.array([1, 2]), 2) == 1.0
