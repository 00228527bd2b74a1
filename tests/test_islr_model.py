"""ISLR 1st-place model and training (issue 7): parameter count, masking, AWP restore, one-cycle schedule."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from sign_notes.landmarks import CHANNELS  # noqa: E402
from sign_notes.islr.preprocess import PAD  # noqa: E402
from sign_notes.islr.model import get_model, any_length, model_dims, CausalDWConv1D  # noqa: E402
from sign_notes.islr.train import AWP, FGM, CFG, OneCycleLR, decay_schedule, make_optimizer, topk_accuracy  # noqa: E402


def test_parameter_count_matches_the_seed():
    assert get_model(max_len=384, dim=192).count_params() == 1_836_569
    assert get_model(max_len=None, dim=192).count_params() == 1_836_569    # no weight depends on the length


def test_every_layer_but_the_input_supports_masking():
    m = get_model(max_len=32, dim=32, num_classes=5)
    assert [l.__class__.__name__ for l in m.layers if not l.supports_masking] == ["InputLayer"]


def test_padded_frames_do_not_change_the_output():
    m = get_model(max_len=None, dim=32, num_classes=7)
    x = np.random.default_rng(0).normal(size=(2, 13, CHANNELS)).astype("float32")
    padded = np.concatenate([x, np.full((2, 19, CHANNELS), PAD, "float32")], axis=1)
    a, b = m(x, training=False).numpy(), m(padded, training=False).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    zeros = padded.copy(); zeros[:, 13:] = 0.0                       # not PAD: these frames are real, and change it
    assert np.abs(m(zeros, training=False).numpy() - a).max() > 1e-4


def test_causal_conv_does_not_look_ahead():
    conv = CausalDWConv1D(17, name="t")
    x = np.random.default_rng(1).normal(size=(1, 30, 4)).astype("float32")
    y = x.copy(); y[:, 20:] += 3.0
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
    with pytest.raises(ValueError, match="dim"): get_model(dim=30)
    with pytest.raises(ValueError, match="max_len"): get_model(max_len=0)


def _tiny_awp(cls=AWP, lr=1e-3, **kw):
    base = get_model(max_len=16, dim=32, num_classes=5)
    m = cls(base.input, base.output, delta=0.2, eps=0.0, **kw)
    m.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=0.0 if lr == 0 else 0.1),
              loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
              metrics=["categorical_accuracy"], run_eagerly=True)
    x = np.random.default_rng(0).normal(size=(8, 16, CHANNELS)).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 5, 5)
    return m, x, y


def test_awp_restores_the_weights_exactly():
    m, x, y = _tiny_awp()
    before = [v.numpy().copy() for v in m.trainable_variables]
    loss, _, grads = m.loss_and_gradients(x, y)
    adv_loss, _, adv_grads = m.adversarial_loss_and_gradients(x, y)
    for a, v in zip(before, m.trainable_variables):
        assert np.array_equal(a, v.numpy())                              # bit for bit
    assert float(adv_loss) > float(loss)                                 # the perturbation climbs the loss
    assert any(np.abs(np.asarray(g) - np.asarray(h)).max() > 0 for g, h in zip(grads, adv_grads))


def test_awp_train_step_with_zero_lr_leaves_weights_unchanged():
    m, x, y = _tiny_awp(lr=0.0, start_step=1)                            # step 0 normal, then AWP steps
    before = [v.numpy().copy() for v in m.trainable_variables]
    hist = m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert int(m.optimizer.iterations.numpy()) == 2
    assert set(hist.history) == {"loss", "categorical_accuracy"}
    for a, v in zip(before, m.trainable_variables):
        assert np.array_equal(a, v.numpy())


def test_fgm_perturbs_only_the_stem():
    m, x, y = _tiny_awp(FGM)
    assert m.adversarial_indices() == [0] and m.trainable_variables[0].path.startswith("stem_conv")
    before = [v.numpy().copy() for v in m.trainable_variables]
    m.adversarial_loss_and_gradients(x, y)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, m.trainable_variables))


def test_one_cycle_shape():
    s = OneCycleLR(1e-3, 20, steps_per_epoch=10, warmup_epochs=2, sustain_epochs=1, decay_epochs=20, lr_min=1e-5)
    steps = np.arange(0, 201)
    lr = np.asarray(s(steps))
    assert lr[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(lr[:21]) > 0)                                  # linear warm-up
    np.testing.assert_allclose(lr[20:31], 1e-3, rtol=1e-6)               # peak, then the plateau
    assert np.all(np.diff(lr[30:]) <= 1e-12)                             # cosine decay
    assert lr[-1] == pytest.approx(1e-5, rel=1e-4)
    mid = 30 + (200 - 30) // 2
    assert lr[mid] == pytest.approx((1e-3 - 1e-5) / 2 + 1e-5, rel=1e-3)  # cosine: half-way at mid-decay
    lin = OneCycleLR(1.0, 10, steps_per_epoch=1, decay_epochs=10, lr_min=0.0, decay_type="linear")
    np.testing.assert_allclose(np.asarray(lin(np.arange(11))), np.linspace(1, 0, 11), atol=1e-6)
    with pytest.raises(ValueError, match="warmup_type"): OneCycleLR(warmup_type="step")


def test_adamw_decay_follows_the_seed_decay_schedule():
    cfg = CFG.quick(epoch=2)
    opt = make_optimizer(cfg, steps_per_epoch=4)
    w = keras.Variable(np.ones(3, "float32")); opt.build([w])
    for _ in range(5):
        before, step = w.numpy().copy(), int(opt.iterations.numpy())
        opt.apply([np.zeros(3, "float32")], [w])
        assert (before - w.numpy())[0] / before[0] == pytest.approx(float(decay_schedule(cfg, 4)(step)), rel=1e-3)


def test_cfg_scales_with_replicas():
    full = CFG.full()
    assert (full.lr, full.batch_size) == (pytest.approx(4e-3), 512)
    one = full.with_replicas(1)
    assert (one.lr, one.batch_size, one.comment) == (pytest.approx(5e-4), 64, "islr-fp16-192-1-seed42")
    with pytest.raises(ValueError, match="decay_type"): CFG(decay_type="step")


def test_topk_accuracy():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3]])
    assert topk_accuracy(logits, np.array([1, 2]), 1) == 0.5
    assert topk_accuracy(logits, np.array([1, 2]), 2) == 1.0
