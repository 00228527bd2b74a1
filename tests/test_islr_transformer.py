"""Mark Wijkhuizen's ASL-Signs transformer (issue 17): the preprocessing against an independent NumPy
re-implementation (fixed and faithful), bad input, the exact claims (batch composition, -1 and slot 64 exactly on
padding, the empty embedding exactly on empty groups, weights summing to 1, TFLite = Keras within 1e-4) and edge
cases of the training helpers. Parameter counts and the then-and-now comparison are chapter 13's."""

import warnings

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from sign_notes.data import load_relevant_data_subset  # noqa: E402
from sign_notes.islr import transformer as T  # noqa: E402

# --- an independent re-implementation of his x/y PreprocessLayer, written from the description -----------
LIPS = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375,
        78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
SIDES = {"left": (list(range(468, 489)), [502, 504, 506, 508, 510]),
         "right": (list(range(522, 543)), [503, 505, 507, 509, 511])}


def np_select(frames, faithful=False):
    "(data [T', 66, 2], kept frame indices [T'] from 0, left-dominant?) in plain NumPy."
    xy = frames[:, :, :2]
    n_left = np.count_nonzero(~np.isnan(xy[:, SIDES["left"][0]]))
    n_right = np.count_nonzero(~np.isnan(xy[:, SIDES["right"][0]]))
    left = n_left >= n_right
    hand, pose = SIDES["left" if left else "right"]
    data = xy[:, LIPS + hand + pose].astype(np.float64)
    kept = np.array([t for t in range(len(frames)) if not np.isnan(data[t, 40:61]).all()], dtype=np.int64)
    data = data[kept]
    if not left:
        last = 61 if faithful else 66
        data[:, 40:last, 0] = 1.0 - data[:, 40:last, 0]
    idx = (kept - kept.min()).astype(np.float64) if len(kept) else np.zeros(0)
    return data, idx, left


def np_preprocess(frames, faithful=False):
    data, idx, _ = np_select(frames, faithful)
    n = len(data)
    if n < 64:
        data = np.concatenate([data, np.zeros((64 - n, 66, 2))])
        idx = np.concatenate([idx, -np.ones(64 - n)])
    else:
        rep = 4096 // (len(frames) if faithful else n) if n < 4096 else 1
        data, idx = np.repeat(data, rep, axis=0), np.repeat(idx, rep)
        pool = -(-len(data) // 64)
        pad = pool * 64 - len(data)
        lo, hi = pad // 2 + 32, pad // 2 + 32 + pad % 2
        data = np.concatenate([np.repeat(data[:1], lo, 0), data, np.repeat(data[-1:], hi, 0)])
        idx = np.concatenate([np.repeat(idx[:1], lo), idx, np.repeat(idx[-1:], hi)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window: NaN, set to 0 below
            data = np.nanmean(data.reshape(64, -1, 66, 2), axis=1)
            idx = idx.reshape(64, -1).mean(1)  # his version, over 4096 frames: 0 repeats, nothing to average
    return np.nan_to_num(data, nan=0.0), idx


def mirrored(frames):
    "A right-handed copy: left and right hands and arm points swapped, then x -> 1 - x everywhere."
    a, b = sum(SIDES["left"], []), sum(SIDES["right"], [])
    out = frames.copy()
    out[:, a], out[:, b] = frames[:, b], frames[:, a]
    out[..., 0] = 1.0 - out[..., 0]
    return out


def random_clip(n_frames, seed=0, p_left=0.3, p_right=0.6):
    "Landmarks in [0, 1] with each hand missing (NaN) in a random share of the frames."
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, (n_frames, 543, 3)).astype(np.float32)
    x[rng.uniform(size=n_frames) < p_left, 468:489] = np.nan
    x[rng.uniform(size=n_frames) < p_right, 522:543] = np.nan
    x[:, 480, 0] = np.where(rng.uniform(size=n_frames) < 0.1, np.nan, x[:, 480, 0])  # a lone missing point
    return x


@pytest.fixture(scope="module")
def real():
    from sign_notes.core import shared_data

    p = shared_data("islr", "16069_10042041.parquet")
    if p is None:
        pytest.skip("../shared/data/islr/16069_10042041.parquet is absent: the real-sequence check needs it")
    return load_relevant_data_subset(p)


def clips_of(real):
    return {"real": real, "real mirrored": mirrored(real), "real x15": np.concatenate([real] * 15),
            "real mirrored x15": mirrored(np.concatenate([real] * 15))}


@pytest.mark.parametrize("faithful", [False, True])
def test_preprocess_matches_numpy_on_the_real_sequence(real, faithful):
    for name, clip in clips_of(real).items():
        data, idx = (np.asarray(a) for a in T.PreprocessLayer(faithful=faithful)(clip))
        want_data, want_idx = np_preprocess(clip, faithful)
        np.testing.assert_allclose(data, want_data, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(idx, want_idx, atol=1e-4, err_msg=name)


def test_dominant_hand_and_kept_frames_on_the_real_sequence(real):
    for name, clip in clips_of(real).items():
        data, idx, left = (np.asarray(a) for a in T.select_frames(tf.constant(clip)))
        want_data, want_idx, want_left = np_select(clip)
        assert bool(left) == want_left, name
        np.testing.assert_array_equal(idx, want_idx, err_msg=name)
        np.testing.assert_allclose(np.nan_to_num(data), np.nan_to_num(want_data), atol=1e-6, err_msg=name)
    assert bool(T.left_dominant(real)) and not bool(T.left_dominant(mirrored(real)))


def test_padding_index_is_minus_one_exactly_on_padded_rows(real):
    data, idx = (np.asarray(a) for a in T.PreprocessLayer()(real))
    n_kept = len(np_select(real)[1])
    assert 0 < n_kept < 64
    np.testing.assert_array_equal(idx == -1, np.arange(64) >= n_kept)
    assert (data[n_kept:] == 0).all()
    slots = T.positional_slots(idx[None]).numpy()[0]
    np.testing.assert_array_equal(slots == T.INPUT_SIZE, idx == -1)  # slot 64 exactly on padding
    assert slots[:n_kept].max() <= T.INPUT_SIZE - 1


@pytest.mark.parametrize("n_frames, seed", [(1, 0), (30, 1), (64, 2), (150, 3), (700, 4), (5000, 5)])
@pytest.mark.parametrize("faithful", [False, True])
def test_preprocess_matches_numpy_on_random_clips(n_frames, seed, faithful):
    for clip in (random_clip(n_frames, seed), random_clip(n_frames, seed, p_left=0.7, p_right=0.2)):
        if np.isnan(clip[:, np.r_[468:489, 522:543], :2]).all():
            continue
        data, idx = (np.asarray(a) for a in T.PreprocessLayer(faithful=faithful)(clip))
        want_data, want_idx = np_preprocess(clip, faithful)
        np.testing.assert_allclose(data, want_data, atol=1e-5)
        np.testing.assert_allclose(idx, want_idx, atol=1e-3)


def test_tie_goes_to_the_left_hand():
    clip = random_clip(20, p_left=0.0, p_right=0.0)
    clip[:, 480] = 0.5  # no lone missing point: both hands have every value
    assert bool(T.left_dominant(clip))
    clip[3, 470, 1] = np.nan
    assert not bool(T.left_dominant(clip))


def test_slot_64_only_on_padding_even_for_the_last_frame():
    idx = np.array([[0.0, 5.0, 10.0] + [-1.0] * 61, np.arange(64, dtype=np.float64)], np.float32)
    slots = T.positional_slots(idx).numpy()
    np.testing.assert_array_equal(slots == 64, idx == -1)
    assert slots[0, 2] == 63 and slots[1, 63] == 63  # his formula gave the last frame 64, the padding's slot


@pytest.mark.parametrize("bad, words", [
    (np.zeros((0, 543, 3), np.float32), "empty clip"),
    (np.full((12, 543, 3), np.nan, np.float32), "no hand in any of the 12 frames"),
    (np.zeros((12, 543, 2), np.float32), "[n_frames, 543, 3]"),
    (np.zeros((543, 3), np.float32), "got [543, 3]"),
    (np.zeros((2, 12, 543, 3), np.float32), "got [2, 12, 543, 3]"),
])
def test_bad_input_gets_a_clear_error(bad, words):
    with pytest.raises(ValueError) as e:
        T.PreprocessLayer()(bad)
    assert words in str(e.value)


def test_no_hand_in_a_graph_gives_all_padding():
    clip = random_clip(30, p_left=1.0, p_right=1.0)
    data, idx = (np.asarray(a) for a in tf.function(T.preprocess_frames)(tf.constant(clip)))
    assert (idx == -1).all() and (data == 0).all()


# --- the model ----------------------------------------------------------------------------------------------------
def test_empty_embedding_used_exactly_for_empty_groups():
    emb = T.LandmarkEmbedding(8, "t")
    x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype(np.float32)
    x[0, 1] = 0.0  # empty
    x[1, 4] = 0.0  # empty
    x[1, 2] = [1.0, -1.0, 2.0, -2.0]  # sums to 0, not empty (his sum test would call it empty)
    out0 = emb(x).numpy()
    np.testing.assert_array_equal(emb.empty_embedding.numpy(), np.zeros(8))  # zero-initialised
    emb.empty_embedding.assign(np.arange(1, 9, dtype=np.float32) * 100)
    out = emb(x).numpy()
    empty = np.zeros((2, 6), bool)
    empty[0, 1] = empty[1, 4] = True
    np.testing.assert_array_equal(np.all(out == emb.empty_embedding.numpy(), axis=-1), empty)
    np.testing.assert_array_equal(out[~empty], out0[~empty])


def test_landmark_weights_sum_to_one():
    emb = T.Embedding(16, 16, 16, 16)
    parts = [np.random.default_rng(i).normal(size=(1, 64, n)).astype(np.float32) for i, n in enumerate((80, 42, 10))]
    emb(*parts, np.arange(64, dtype=np.float32)[None])
    emb.landmark_weights.assign([3.0, -1.0, 0.5])
    w = tf.nn.softmax(emb.landmark_weights).numpy()
    assert w.shape == (3,) and abs(w.sum() - 1.0) < 1e-6


def test_frame_mask_falls_back_to_padding_mask():
    idx = np.array([[0, 1, 2] + [-1] * 61], np.float32)
    mask0 = T.FrameMask(0.25)(idx, training=False).numpy()
    np.testing.assert_array_equal(mask0[0, :, 0], idx[0] != -1)
    every_frame_dropped = T.FrameMask(1.0)(idx, training=True).numpy()
    np.testing.assert_array_equal(every_frame_dropped, mask0)
    some = T.FrameMask(0.5)(np.tile(np.arange(64, dtype=np.float32), (50, 1)), training=True).numpy()
    assert 0.3 < some.mean() < 0.7


def test_masked_mean_pool_of_no_frame_is_zero_not_nan():
    x = np.ones((1, 64, 4), np.float32)
    assert (T.MaskedMeanPool()(x, np.zeros((1, 64, 1), np.float32)).numpy() == 0).all()


def test_padding_does_not_change_the_prediction():
    "Keys are masked (ours): changing what sits in the padded rows changes nothing."
    model = T.get_model(T.TransformerConfig.quick())
    data, idx = (np.asarray(a) for a in T.PreprocessLayer()(random_clip(20, seed=3)))
    other = data.copy()
    other[idx == -1] = 0.3  # padded rows with other content (still marked -1)
    a = model({"frames": data[None], "non_empty_frame_idxs": idx[None]}, training=False).numpy()
    b = model({"frames": other[None], "non_empty_frame_idxs": idx[None]}, training=False).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_config_presets_and_errors():
    full = T.TransformerConfig.full()
    assert (full.units, full.lips_units, full.num_blocks, full.num_classes) == (512, 384, 2, 250)
    assert T.TransformerConfig.quick().num_classes == 10
    with pytest.raises(ValueError, match="multiple of num_heads"):
        T.TransformerConfig.quick(units=30, num_heads=4)
    with pytest.raises(ValueError, match="unknown preset"):
        T.TransformerConfig.preset("huge")


# --- training helpers ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_every_class_exactly_n_times_per_batch(n):
    rng = np.random.default_rng(n)
    y = np.concatenate([np.full(k, c) for c, k in enumerate([1, 5, 2, 9, 3])])  # uneven, one class of 1 clip
    X = np.arange(len(y), dtype=np.float32)[:, None, None, None] * np.ones((1, 64, 66, 2), np.float32)
    idx = rng.normal(size=(len(y), 64)).astype(np.float32)
    gen = T.get_train_batch_all_signs(X, y, idx, n=n, seed=0)
    for _ in range(3):
        batch, labels = next(gen)
        np.testing.assert_array_equal(np.bincount(labels, minlength=5), [n] * 5)
        np.testing.assert_array_equal(y[batch["frames"][:, 0, 0, 0].astype(int)], labels)  # frames match labels
        assert batch["non_empty_frame_idxs"].shape == (5 * n, 64)


def test_batch_sampler_refuses_a_class_without_clips():
    y = np.array([0, 0, 2])
    with pytest.raises(ValueError, match=r"class\(es\) \[1\]"):
        next(T.get_train_batch_all_signs(np.zeros((3, 64, 66, 2)), y, np.zeros((3, 64)), n=2))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        next(T.get_train_batch_all_signs(np.zeros((3, 64, 66, 2)), y, np.zeros((3, 64)), n=0))


def test_scce_with_ls_matches_the_formula():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    y = np.array([0, 2])
    target = np.full((2, 3), 0.25 / 3) + 0.75 * np.eye(3)[y]
    want = -(target * np.log(p)).sum(1)
    np.testing.assert_allclose(T.scce_with_ls(y, p).numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(T.scce_with_ls(y[:, None], p).numpy(), want, rtol=1e-5)  # his [B, 1] labels


def test_lrfn():
    assert T.lrfn(0, 0, 1e-3) == pytest.approx(1e-3)
    assert T.lrfn(50, 0, 1e-3) == pytest.approx(5e-4)
    assert T.lrfn(100, 0, 1e-3) == pytest.approx(0.0, abs=1e-12)
    assert T.lrfn(3, 5, 1e-3) == pytest.approx(1e-5)  # "log" warm-up: x10 an epoch
    assert T.lrfn(3, 5, 1e-3, warmup_method="exp") == pytest.approx(2.5e-4)


def test_normalisation_stats_over_non_zero_values():
    X = np.zeros((3, 64, 66, 2), np.float32)
    X[0, :2, 0, 0] = [1.0, 3.0]  # lips point 0, x: values 1 and 3, everything else 0 (missing)
    stats = T.normalisation_stats(X)
    mean, std = stats["lips"]
    assert mean[0, 0] == pytest.approx(2.0) and std[0, 0] == pytest.approx(1.0)
    assert std[1, 0] == 1.0  # never seen: std 1, not 0
    assert {k: v[0].shape for k, v in stats.items()} == {"lips": (40, 2), "left_hand": (21, 2), "pose": (5, 2)}


def test_participant_split_holds_out_whole_signers():
    pid = np.repeat([10, 11, 12, 13, 14], 7)
    train, val = T.participant_split(pid, val_fraction=0.2)
    assert val.sum() == 7 and not set(pid[train]) & set(pid[val])
    with pytest.raises(ValueError, match="at least 2 signers"):
        T.participant_split([5, 5, 5])


def test_weight_decay_callback_sets_keras_decay():
    cfg = T.TransformerConfig.quick(n_epochs=1)
    model = T.get_model(cfg)
    cb = T.WeightDecayCallback(0.05)
    cb.set_model(model)
    model.optimizer.learning_rate.assign(2e-3)
    cb.on_epoch_begin(0)
    assert cb.decay == pytest.approx(1e-4) and model.optimizer.weight_decay == 0.05


# --- the submission -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = T.get_model(T.TransformerConfig.quick())
    path = T.export_transformer_tflite(model, tmp_path_factory.mktemp("transformer") / "model.tflite")
    from sign_notes.islr.export import tflite_runner

    return model, tflite_runner(path)


def test_tflite_equals_keras(exported, real):
    model, runner = exported
    for clip in (real, real[:1], np.concatenate([real] * 15), mirrored(real), random_clip(300, seed=9)):
        got = runner(inputs=clip)["outputs"]
        assert got.shape == (10,)
        np.testing.assert_allclose(got, T.transformer_reference(model, clip), atol=1e-4)


def test_tflite_empty_hand_and_empty_clip(exported):
    _, runner = exported
    no_hand = random_clip(25, p_left=1.0, p_right=1.0)
    out = runner(inputs=no_hand)["outputs"]
    assert out.shape == (10,) and np.isfinite(out).all() and abs(out.sum() - 1) < 1e-5
    assert (runner(inputs=no_hand[:0])["outputs"] == 0).all()


def test_export_refuses_a_wrong_suffix(exported, tmp_path):
    with pytest.raises(ValueError, match="should end in .tflite"):
        T.export_transformer_tflite(exported[0], tmp_path / "model.bin")


@pytest.mark.parametrize("faithful", [False, True])
def test_preprocessing_converts_with_builtin_ops_and_agrees(real, faithful):
    from sign_notes.islr.export import convert_tflite, tflite_runner

    class Prep(tf.Module):
        def __init__(self):
            self.prep = T.PreprocessLayer(faithful=faithful)

        @tf.function(input_signature=[tf.TensorSpec([None, 543, 3], tf.float32, name="inputs")])
        def __call__(self, inputs):
            data, idx = self.prep(inputs)
            return {"data": data, "idx": idx}

    runner = tflite_runner(convert_tflite(Prep()))  # builtin ops only: conversion fails otherwise
    for clip in (real, mirrored(np.concatenate([real] * 15)), random_clip(200, seed=7)):
        got = runner(inputs=clip)
        want_data, want_idx = np_preprocess(clip, faithful)
        np.testing.assert_allclose(got["data"], want_data, atol=1e-5)
        np.testing.assert_allclose(got["idx"], want_idx, atol=1e-3)
