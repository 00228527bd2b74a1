"""Tests for sign_notes.islr.features, .augment and .tfrecord (issue 6): the Preprocess layer against a literal
transcription of the seed's, TFLite conversion with builtin ops only, flip_lr, Hypothesis properties of augment_fn,
bit-equal TFRecord round trips, participant folds, and clear errors on bad input."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

tf = pytest.importorskip("tensorflow")

from sign_notes.data import load_relevant_data_subset, read_sign_map  # noqa: E402
from sign_notes.synth import make_synthetic_islr  # noqa: E402
from sign_notes.landmarks import CHANNELS, LHAND, MAX_LEN, NUM_CLASSES, PAD, POINT_LANDMARKS, RHAND  # noqa: E402
from sign_notes.islr.features import Preprocess  # noqa: E402
import sign_notes.islr.augment as augment_mod  # noqa: E402
from sign_notes.islr.augment import (  # noqa: E402
    augment_fn,
    flip_lr,
    resample,
    spatial_mask,
    spatial_random_affine,
    temporal_crop,
    temporal_mask,
)
from sign_notes.islr.tfrecord import (  # noqa: E402
    count_data_items,
    decode_tfrec,
    fold_files,
    get_tfrec_dataset,
    has_usable_frame,
    make_folds,
    preprocess,
    serialize_example,
    write_tfrecord,
    write_tfrecords,
)
from third_party.islr_seed_preprocess import (  # noqa: E402
    SEED_CHANNELS,
    SEED_MAX_LEN,
    SEED_NUM_CLASSES,
    SEED_PAD,
    SEED_POINT_LANDMARKS,
    SEED_ROWS_PER_FRAME,
    ref_preprocess,
)
import third_party.islr_seed_preprocess as seed_ref  # noqa: E402


def random_frames(T, seed=0, p_missing=0.3):
    "Landmarks [T, 543, 3] around the image centre, with whole hands/faces missing in some frames (NaN)."
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 0.15, (T, 543, 3)).astype(np.float32)
    for lo, hi in ((0, 468), (468, 489), (489, 522), (522, 543)):
        x[rng.random(T) < p_missing, lo:hi] = np.nan
    return x


@pytest.fixture
def real(real_islr):
    return load_relevant_data_subset(real_islr)


# ---------------------------------------------------------------------------------------------------------------
# Preprocess
# ---------------------------------------------------------------------------------------------------------------
def test_constants_and_landmarks_are_the_seeds():
    "The order of POINT_LANDMARKS is the order of the model's input columns: values *and* order must be the seed's."
    from sign_notes import landmarks as lm

    assert lm.LIP == seed_ref.SEED_LIP and lm.LIP[0] == 0
    for name in ("LLIP", "RLIP", "NOSE", "LNOSE", "RNOSE", "REYE", "LEYE", "LHAND", "RHAND", "POSE", "LPOSE", "RPOSE"):
        assert list(getattr(lm, name)) == getattr(seed_ref, f"SEED_{name}"), name
    assert POINT_LANDMARKS == SEED_POINT_LANDMARKS
    assert (lm.ROWS_PER_FRAME, MAX_LEN, PAD, NUM_CLASSES, CHANNELS) == (
        SEED_ROWS_PER_FRAME,
        SEED_MAX_LEN,
        SEED_PAD,
        SEED_NUM_CLASSES,
        SEED_CHANNELS,
    )
    assert Preprocess().point_landmarks == SEED_POINT_LANDMARKS and Preprocess().max_len == SEED_MAX_LEN


def test_preprocess_hand_built_motion():
    "(The one-frame hand-built check is chapter 08's.)"
    # two frames moving by +0.1 in x: dx = 0.1/std on frame 0, 0 on the last frame; dx2 all 0; nothing NaN
    y = np.full((2, 543, 3), np.nan, np.float32)
    y[:, POINT_LANDMARKS] = [0.5, 0.5, 0.0]
    y[0, POINT_LANDMARKS[60:], 0] = 0.4
    y[1, POINT_LANDMARKS[60:], 0] = 0.5
    y[:, 17] = [0.5, 0.5, 0.0]
    o = Preprocess()(y).numpy()[0]
    std_x = np.sqrt((58 * 0.1**2) / (2 * 118))  # 58 of 236 point-frames are 0.1 off the centre
    dx = o[:, 236:472].reshape(2, 118, 2)
    np.testing.assert_allclose(dx[0, 60:, 0], 0.1 / std_x, rtol=1e-5)
    np.testing.assert_allclose(dx[0, :60], 0, atol=1e-6)
    assert (dx[1] == 0).all() and (o[:, 472:] == 0).all()
    assert not np.isnan(o).any()  # y's std is 0 -> 0/0 -> NaN -> 0


def test_preprocess_missing_centre_falls_back_to_half():
    x = random_frames(4, seed=1)
    x[:, 17] = np.nan
    np.testing.assert_allclose(Preprocess()(x).numpy(), ref_preprocess(x), atol=1e-5)
    # with landmark 17 gone the centre is 0.5: shifting every point by c - 0.5 would change the output
    x2 = x + 0.1
    assert not np.allclose(Preprocess()(x2).numpy(), Preprocess()(x).numpy(), atol=1e-3)


@pytest.mark.parametrize("T", [1, 2, 3, 4, 17, 400])
def test_preprocess_matches_seed(T):
    x = random_frames(T, seed=T)
    ours, ref = Preprocess()(x).numpy(), ref_preprocess(x)
    assert ours.shape == ref.shape == (1, min(T, SEED_MAX_LEN), SEED_CHANNELS)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(Preprocess(max_len=2)(x).numpy(), ref_preprocess(x, max_len=2), atol=1e-5, rtol=0)


def test_preprocess_batch_rank4():
    x = np.stack([random_frames(6, seed=3), random_frames(6, seed=4)])
    ours = Preprocess()(x).numpy()
    assert ours.shape == (2, 6, 708)
    np.testing.assert_allclose(ours, ref_preprocess(x), atol=1e-5)
    np.testing.assert_array_equal(ours[1:], Preprocess()(x[1]).numpy())


def test_preprocess_matches_seed_on_real_sequence(real):
    assert real.shape == (105, 543, 3)
    np.testing.assert_allclose(Preprocess()(real).numpy(), ref_preprocess(real), atol=1e-5, rtol=0)
    for T in (1, 2, 3):
        np.testing.assert_allclose(Preprocess()(real[:T]).numpy(), ref_preprocess(real[:T]), atol=1e-5, rtol=0)


def test_preprocess_in_graphs():
    "Inside tf.function (unknown T, and unknown rank) and tf.data: same numbers as eager."
    x = random_frames(9, seed=5)
    layer = Preprocess()
    f3 = tf.function(layer, input_signature=[tf.TensorSpec([None, 543, 3], tf.float32)])
    fany = tf.function(layer, input_signature=[tf.TensorSpec(None, tf.float32)])
    np.testing.assert_allclose(f3(x).numpy(), ref_preprocess(x), atol=1e-5)
    np.testing.assert_allclose(fany(x).numpy(), ref_preprocess(x), atol=1e-5)
    np.testing.assert_allclose(fany(x[None]).numpy(), ref_preprocess(x), atol=1e-5)
    ds = tf.data.Dataset.from_tensors(x).map(lambda s: Preprocess()(s)[0])
    np.testing.assert_allclose(next(iter(ds)).numpy(), ref_preprocess(x)[0], atol=1e-5)


def test_preprocess_converts_to_tflite_with_builtin_ops_only():
    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.prep = Preprocess()

        @tf.function(input_signature=[tf.TensorSpec([None, 543, 3], tf.float32, name="inputs")])
        def __call__(self, inputs):
            return {"outputs": self.prep(inputs)}

    m = Module()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([m.__call__.get_concrete_function()], m)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no SELECT_TF_OPS
    interp = tf.lite.Interpreter(model_content=conv.convert())
    ops = {d["op_name"] for d in interp._get_ops_details()}
    assert not any(o.startswith("Flex") or o == "CUSTOM" for o in ops), ops
    run = interp.get_signature_runner("serving_default")
    for T in (1, 2, 3, 50, 500):
        x = random_frames(T, seed=T)
        np.testing.assert_allclose(run(inputs=x)["outputs"], ref_preprocess(x), atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------------------------
def test_flip_lr_twice_is_identity_synthetic(tmp_path):
    root = make_synthetic_islr(tmp_path / "s", n_signs=3, n_per_sign=1, n_participants=1, seed=1, progress=False)
    for p in (root / "train_landmark_files").rglob("*.parquet"):
        x = load_relevant_data_subset(p)
        np.testing.assert_allclose(flip_lr(flip_lr(x)).numpy(), x, atol=1e-6)  # NaN in the same places
    x = random_frames(7)
    f = flip_lr(x).numpy()
    np.testing.assert_allclose(
        f[:, RHAND], np.stack([1 - x[:, LHAND, 0], x[:, LHAND, 1], x[:, LHAND, 2]], -1), atol=1e-6
    )
    np.testing.assert_allclose(flip_lr(f).numpy(), x, atol=1e-6)


SEED_PAIRS = {
    "hand": (seed_ref.SEED_LHAND, seed_ref.SEED_RHAND),
    "lip": (seed_ref.SEED_LLIP, seed_ref.SEED_RLIP),
    "eye": (seed_ref.SEED_LEYE, seed_ref.SEED_REYE),
    "nose": (seed_ref.SEED_LNOSE, seed_ref.SEED_RNOSE),
    "pose": (seed_ref.SEED_LPOSE, seed_ref.SEED_RPOSE),
}


def mirror(a):
    "x -> 1 - x, y and z kept."
    return np.concatenate([1 - a[..., :1], a[..., 1:]], -1)


@pytest.mark.parametrize("p_missing", [0.0, 0.3])
def test_flip_lr_swaps_each_pair_directly(p_missing):
    "Flipping twice is the identity for *any* swap; so check each pair: R <- mirrored L, L <- mirrored R, rest mirrored"
    x = random_frames(7, seed=11, p_missing=p_missing)
    f = flip_lr(x).numpy()
    for name, (L, R) in SEED_PAIRS.items():
        np.testing.assert_allclose(f[:, R], mirror(x[:, L]), atol=1e-6, err_msg=f"{name}: right <- mirrored left")
        np.testing.assert_allclose(f[:, L], mirror(x[:, R]), atol=1e-6, err_msg=f"{name}: left <- mirrored right")
    swapped = set().union(*(set(L) | set(R) for L, R in SEED_PAIRS.values()))
    still = sorted(set(range(543)) - swapped)
    assert len(still) == 543 - 2 * (21 + 18 + 16 + 1 + 4)
    np.testing.assert_allclose(f[:, still], mirror(x[:, still]), atol=1e-6, err_msg="untouched points: only x -> 1 - x")


def test_flip_lr_twice_is_identity_real(real):
    np.testing.assert_allclose(flip_lr(flip_lr(real)).numpy(), real, atol=1e-6)
    f = flip_lr(real).numpy()
    assert np.isnan(f[:, LHAND]).all() and not np.isnan(f[:, RHAND]).all()  # the left-handed signer now signs right


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    T=st.integers(1, 600),
    seed=st.integers(0, 2**31 - 1),
    p_missing=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
    always=st.booleans(),
    max_len=st.sampled_from([None, 1, 32, MAX_LEN]),
)
def test_augment_keeps_dtype_points_and_data(T, seed, p_missing, always, max_len):
    x = random_frames(T, seed=seed % 1000, p_missing=p_missing)
    if np.isnan(x).all():
        x[T // 2, 500] = [0.5, 0.5, 0.0]  # "where the input had data"
    y = augment_fn(x, always=always, max_len=max_len, seed=seed).numpy()
    assert y.dtype == np.float32 and y.ndim == 3 and y.shape[1:] == (543, 3)
    assert 1 <= len(y) and (max_len is None or len(y) <= max_len)
    assert not np.isnan(y).all()
    if not np.isnan(x[:, POINT_LANDMARKS]).all():
        assert not np.isnan(y[:, POINT_LANDMARKS]).all()


def test_augment_seeded_reproducible_eager_and_graph():
    x = random_frames(40, seed=2)
    a, b = augment_fn(x, max_len=32, seed=7).numpy(), augment_fn(x, max_len=32, seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    assert augment_fn(x, always=True, seed=7).numpy().tobytes() != augment_fn(x, always=True, seed=8).numpy().tobytes()
    g = tf.function(
        lambda v, s: augment_fn(v, max_len=32, seed=s),
        input_signature=[tf.TensorSpec([None, 543, 3]), tf.TensorSpec([2], tf.int64)],
    )
    np.testing.assert_allclose(g(x, tf.constant([7, 0], tf.int64)).numpy(), a, atol=1e-6)  # graph rewrites: 1 ulp
    for fn in (resample, spatial_random_affine, temporal_crop, temporal_mask, spatial_mask):
        np.testing.assert_array_equal(fn(x, seed=3).numpy(), fn(x, seed=3).numpy())


def test_augment_ranges():
    x = random_frames(100, seed=3, p_missing=0.0)
    assert len(resample(x, (0.5, 0.5), seed=0)) == 50
    assert len(temporal_crop(x, 30, seed=0)) == 30 and len(temporal_crop(x, 300, seed=0)) == 100
    masked = np.isnan(temporal_mask(x, seed=1).numpy()).all((1, 2)).sum()
    assert 20 <= masked <= 40


def test_spatial_mask_hides_exactly_one_square():
    "On a 100 x 100 grid of points: the hidden points are those of one square, side 0.2 to 0.4; nothing else moves."
    g = (np.arange(100) + 0.5) / 100
    X, Y = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([X, Y, np.full_like(X, 0.3)], -1).astype(np.float32)  # [100, 100, 3]
    sides, n_hiding = [], 0
    for seed in range(40):
        m = spatial_mask(pts, seed=seed).numpy()
        hidden = np.isnan(m).all(-1)
        assert (np.isnan(m).any(-1) == hidden).all()  # x, y and z together
        np.testing.assert_array_equal(m[~hidden], pts[~hidden])
        if not hidden.any():
            continue  # the square fell off the image
        n_hiding += 1
        xs, ys = pts[hidden, 0], pts[hidden, 1]
        px, py = pts[..., 0], pts[..., 1]
        box = (px >= xs.min()) & (px <= xs.max()) & (py >= ys.min()) & (py <= ys.max())
        assert (hidden == box).all(), seed  # one axis-aligned rectangle
        wx, wy = np.ptp(xs), np.ptp(ys)
        assert wx <= 0.4 + 1e-6 and wy <= 0.4 + 1e-6, (seed, wx, wy)
        if xs.max() < 0.99 and ys.max() < 0.99:  # not cut by the image's edge
            assert abs(wx - wy) <= 0.021 and wx >= 0.2 - 0.021, (seed, wx, wy)  # a square of side 0.2 to 0.4
            sides.append(max(wx, wy))
    assert n_hiding >= 10 and len(sides) >= 5 and max(sides) - min(sides) > 0.05  # and the side varies
    # the same on [T, 543, 3] landmarks
    x = random_frames(5, seed=4, p_missing=0.0)
    m = spatial_mask(x, size=(0.3, 0.3), seed=2).numpy()
    assert np.isnan(m).any() and (np.isnan(m).any(-1) == np.isnan(m).all(-1)).all()


# The seed's augment_fn: P(resample) 0.8 with rate (0.5, 1.5), P(flip_lr) 0.5, temporal_crop(max_len) whenever
# max_len is given, P(spatial_random_affine) 0.75 with its default ranges, P(temporal_mask) 0.5, P(spatial_mask) 0.5.
SEED_PROBS = {"resample": 0.8, "flip_lr": 0.5, "spatial_random_affine": 0.75, "temporal_mask": 0.5, "spatial_mask": 0.5}
SEED_EXTRA_ARGS = {
    "resample": ((0.5, 1.5),),
    "flip_lr": (),
    "spatial_random_affine": (),
    "temporal_mask": (),
    "spatial_mask": (),
    "temporal_crop": (16,),
}


def spy_on_steps(monkeypatch):
    "Replace augment_fn's steps by spies that record their extra arguments and return x unchanged."
    calls = []

    def spy(name):
        def f(x, *args, **kwargs):
            calls[-1][name] = args + tuple(v for k, v in kwargs.items() if k != "seed")
            return x

        return f

    for name in SEED_EXTRA_ARGS:
        monkeypatch.setattr(augment_mod, name, spy(name))
    return calls


@pytest.mark.parametrize("seeded", [True, False])
def test_augment_fn_probabilities(monkeypatch, seeded):
    calls = spy_on_steps(monkeypatch)
    x = random_frames(3, seed=0, p_missing=0.0)
    n = 1500 if seeded else 800
    tf.random.set_seed(0)
    for i in range(n):
        calls.append({})
        augment_mod.augment_fn(x, max_len=16, seed=i if seeded else None, keep_data=False)
    for name, p in SEED_PROBS.items():
        freq = np.mean([name in c for c in calls])
        assert abs(freq - p) < 0.05, f"{name}: applied in {freq:.3f} of {n} calls, the seed's p = {p}"
    assert all("temporal_crop" in c for c in calls)  # max_len given: always cropped
    all_five = np.mean([all(k in c for k in SEED_PROBS) for c in calls])  # independent draws
    assert abs(all_five - np.prod(list(SEED_PROBS.values()))) < 0.03
    for c in calls:  # the seed's arguments
        for name, args in c.items():
            assert args == SEED_EXTRA_ARGS[name], (name, args)
    # always=True: every step; no max_len: no crop
    calls.clear()
    calls.append({})
    augment_mod.augment_fn(x, always=True, seed=0 if seeded else None, keep_data=False)
    assert set(calls[0]) == set(SEED_PROBS)


def affine_params(out):
    "(scale, shear, shear along x?, degree, shift) of spatial_random_affine from 4 points' images; and the offset check"
    shift = out[0, 2]  # z of the origin: s * 0 + shift
    s = out[3, 2] - shift  # z of (0, 0, 1): s + shift
    b = out[0, :2]  # xy' = xy @ A + b
    M = np.stack([out[1, :2] - b, out[2, :2] - b]) / s  # = Shear @ Rotation
    MMt = M @ M.T  # = Shear @ Shear.T
    shear, along_x = MMt[0, 1], MMt[0, 0] >= MMt[1, 1]
    Sh = np.array([[1, shear], [0, 1]]) if along_x else np.array([[1, 0], [shear, 1]])
    R = np.linalg.solve(Sh, M)
    degree = np.degrees(np.arctan2(R[0, 1], R[0, 0]))
    centre = np.array([0.5, 0.5]) + (np.array([0, shear]) if along_x else np.array([shear, 0]))  # [shear_y, shear_x]
    b_expected = -centre @ R + centre + shift  # rotation about the (sheared) image centre
    np.testing.assert_allclose(b, b_expected, atol=1e-5)
    np.testing.assert_allclose(R @ R.T, np.eye(2), atol=1e-5)  # a rotation indeed
    return s, shear, along_x, degree, shift


@pytest.mark.parametrize("seeded", [True, False])
def test_spatial_random_affine_ranges(seeded):
    "The seed's ranges: scale 0.8-1.2 (about the origin), shear +-0.15 along x or y, rotation +-30 deg, one shift +-0.1"
    unit = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    tf.random.set_seed(1)
    n = 300 if seeded else 150
    p = np.array([affine_params(spatial_random_affine(unit, seed=i if seeded else None).numpy()) for i in range(n)])
    s, shear, along_x, degree, shift = p.T
    eps = 1e-4
    assert s.min() >= 0.8 - eps and s.max() <= 1.2 + eps and s.min() < 0.83 and s.max() > 1.17
    assert np.abs(shear).max() <= 0.15 + eps and shear.min() < -0.12 and shear.max() > 0.12
    assert np.abs(degree).max() <= 30 + 1e-2 and degree.min() < -25 and degree.max() > 25
    assert np.abs(shift).max() <= 0.1 + eps and shift.min() < -0.08 and shift.max() > 0.08
    assert 0.35 < along_x.mean() < 0.65  # x or y, a fair coin
    # (affine_params also checked that the shift is one scalar for x, y and z, and the rotation's centre)


# ---------------------------------------------------------------------------------------------------------------
# TFRecords
# ---------------------------------------------------------------------------------------------------------------
def test_tfrecord_round_trip_bit_equal(tmp_path):
    x = random_frames(13, seed=9)
    x[2, 5] = [np.inf, -0.0, 1e-30]
    recs = [serialize_example(x, 3), serialize_example(x[:1], 2**40)]
    assert write_tfrecord(tmp_path / "a-2.tfrecords", recs) == 2
    back = [decode_tfrec(r) for r in tf.data.TFRecordDataset(str(tmp_path / "a-2.tfrecords"), compression_type="GZIP")]
    assert back[0]["coordinates"].numpy().tobytes() == x.tobytes()  # bit-equal, NaN payloads included
    assert back[1]["coordinates"].numpy().tobytes() == x[:1].tobytes()
    assert [int(b["sign"]) for b in back] == [3, 2**40]
    ex = tf.train.Example(
        features=tf.train.Features(
            feature={
                "coordinates": tf.train.Feature(bytes_list=tf.train.BytesList(value=[x.tobytes()])),
                "sign": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
            }
        )
    )
    assert tf.train.Example.FromString(recs[0]) == ex


def test_write_tfrecord_bad_input(tmp_path):
    x = random_frames(2, seed=1)
    for bad in (-1, 1.5, 2**64):
        with pytest.raises(ValueError):
            serialize_example(x, bad)
    with pytest.raises(ValueError, match="compresslevel"):
        write_tfrecord(tmp_path / "a-1.tfrecords", [serialize_example(x, 0)], compresslevel=10)
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        write_tfrecord(tmp_path / "no_such_folder" / "a-1.tfrecords", [serialize_example(x, 0)])
    assert write_tfrecord(tmp_path / "empty-0.tfrecords", []) == 0
    assert list(tf.data.TFRecordDataset(str(tmp_path / "empty-0.tfrecords"), compression_type="GZIP")) == []


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    "A small synthetic dataset converted with a pool of 2 spawned workers."
    d = tmp_path_factory.mktemp("islr")
    root = make_synthetic_islr(d / "src", n_signs=4, n_per_sign=3, n_participants=4, seed=3, progress=False)
    files = write_tfrecords(root, d / "tfr", n_folds=3, shard_size=2, n_workers=2, progress=False)
    return root, d / "tfr", files


def test_conversion_round_trip_and_counts(converted):
    root, out, files = converted
    folds = pd.read_csv(out / "folds.csv")
    assert count_data_items(files) == len(folds) == 12
    assert all(f.name.startswith("fold") and f.name.endswith(".tfrecords") for f in files)
    sign_map = read_sign_map(root)
    for f in files:
        recs = [decode_tfrec(r) for r in tf.data.TFRecordDataset(str(f), compression_type="GZIP")]
        assert len(recs) == count_data_items([f])
        for k, r in enumerate(recs):
            row = folds[(folds.file == f.name) & (folds.record == k)].iloc[0]
            assert r["coordinates"].numpy().tobytes() == load_relevant_data_subset(root / row.path).tobytes()
            assert int(r["sign"]) == sign_map[row.sign]
    conv = json.loads((out / "conversion.json").read_text())
    assert conv["workers"] == 2 and "paddle" not in conv["worker_frameworks"]  # they write with TensorFlow only


def test_no_participant_in_two_folds(converted):
    root, out, files = converted
    folds = pd.read_csv(out / "folds.csv")
    assert folds.groupby("participant_id").fold.nunique().max() == 1
    by_fold = {k: set(g.participant_id) for k, g in folds.groupby("fold")}
    assert len(by_fold) == 3
    assert all(not (by_fold[a] & by_fold[b]) for a in by_fold for b in by_fold if a < b)
    for k in range(3):
        train, valid = fold_files(files, k)
        assert valid and all(f.name.startswith(f"fold{k}-") for f in valid) and not set(train) & set(valid)
        assert set(folds[folds.file.isin([f.name for f in valid])].participant_id) == by_fold[k]
    # make_folds on a larger table: balanced and never splitting anyone
    t = pd.DataFrame({"participant_id": np.repeat(np.arange(21), np.random.default_rng(0).integers(50, 150, 21))})
    f = make_folds(t, n_folds=5)
    assert f.groupby("participant_id").fold.nunique().max() == 1
    sizes = f.fold.value_counts()
    assert sizes.max() - sizes.min() <= 150


def test_get_tfrec_dataset(converted):
    root, out, files = converted
    ds = get_tfrec_dataset(files, batch_size=4, max_len=16, augment=True, shuffle=8, repeat=True, seed=1)
    (x1, y1), (x2, y2) = list(ds.take(2))
    assert x1.shape == (4, 16, CHANNELS) and y1.shape == (4, 4)  # num_classes from the sign map
    pad = (x1.numpy() == PAD).all(-1)  # [4, 16]: padded frames
    assert pad.any() and not (x1.numpy()[~pad] == PAD).any()  # PAD only in padded frames...
    assert (np.diff(pad.astype(int), axis=1) >= 0).all()  # ...after the real ones
    np.testing.assert_array_equal(y1.numpy().sum(1), 1)
    ((z1, _),) = list(
        get_tfrec_dataset(files, batch_size=4, max_len=16, augment=True, shuffle=8, repeat=True, seed=1).take(1)
    )
    np.testing.assert_array_equal(x1.numpy(), z1.numpy())  # seeded: reproducible
    xb, yb = next(iter(get_tfrec_dataset(files, batch_size=3, max_len=None, num_classes=NUM_CLASSES)))
    assert xb.shape[0] == 3 and xb.shape[2] == CHANNELS and yb.shape == (3, NUM_CLASSES)


# ---------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [lambda x: Preprocess()(x), lambda x: augment_fn(x), lambda x: serialize_example(x, 0)])
def test_zero_frames_and_wrong_last_dim(fn):
    with pytest.raises(ValueError, match="0 frames"):
        fn(np.zeros((0, 543, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[T, 543, 3\]"):
        fn(np.zeros((4, 543, 2), np.float32))


def test_all_nan_input():
    nan = np.full((5, 543, 3), np.nan, np.float32)
    with pytest.raises(ValueError, match="all-NaN"):
        Preprocess()(nan)
    with pytest.raises(ValueError, match="all-NaN"):
        augment_fn(nan)
    only_pose = nan.copy()
    only_pose[:, 500] = 0.5  # no point the model reads
    with pytest.raises(ValueError, match="all-NaN.*118 points"):
        Preprocess()(only_pose)
    with pytest.raises(ValueError, match="sequence 1 of the batch"):
        Preprocess()(np.stack([random_frames(5), nan]))


def test_bad_input_in_graphs():
    with pytest.raises(ValueError, match="543, 3"):  # static shape: caught when traced
        tf.function(Preprocess(), input_signature=[tf.TensorSpec([None, 543, 2], tf.float32)]).get_concrete_function()
    with pytest.raises(ValueError, match="no TFRecord files"):
        get_tfrec_dataset([])


@pytest.mark.parametrize("seed", [None, 0])
def test_records_without_usable_frame_are_filtered_out(tmp_path, seed):
    "One record with no usable frame must not stop the pipeline: it is dropped, the others go through."
    nan = np.full((3, 543, 3), np.nan, np.float32)
    only_pose = nan.copy()
    only_pose[:, 500] = 0.5  # data, but none of the 118 points
    good = random_frames(4, seed=2, p_missing=0.0)
    recs = [
        serialize_example(nan, 0),
        serialize_example(good, 1),
        serialize_example(only_pose, 0),
        serialize_example(good[:2], 1),
    ]
    write_tfrecord(tmp_path / "mixed-4.tfrecords", recs)
    out = list(
        get_tfrec_dataset(
            [tmp_path / "mixed-4.tfrecords"],
            batch_size=None,
            max_len=None,
            num_classes=2,
            augment=seed is not None,
            seed=seed,
        )
    )
    assert len(out) == 2
    if seed is None:
        assert [len(x) for x, _ in out] == [4, 2]  # not augmented: the two good ones
    assert [y.numpy().tolist() for _, y in out] == [[0.0, 1.0]] * 2
    ((xb, yb),) = list(get_tfrec_dataset([tmp_path / "mixed-4.tfrecords"], batch_size=4, max_len=8, num_classes=2))
    assert xb.shape == (2, 8, CHANNELS)
    assert [bool(has_usable_frame(v)) for v in (nan, good, only_pose)] == [False, True, False]
    assert bool(has_usable_frame({"coordinates": tf.constant(good), "sign": tf.constant(1, tf.int64)}))
    # preprocess called on its own still refuses such a record, clearly
    with pytest.raises(tf.errors.InvalidArgumentError, match="no frame with any of the POINT_LANDMARKS"):
        preprocess({"coordinates": tf.constant(nan), "sign": tf.constant(0, tf.int64)}, num_classes=2)


def test_sign_outside_num_classes_is_an_error(tmp_path):
    "tf.one_hot turns a sign >= num_classes (or < 0) into a row of zeros; preprocess refuses it, naming the values."
    x = random_frames(4, seed=1, p_missing=0.0)
    write_tfrecord(tmp_path / "big-1.tfrecords", [serialize_example(x, 7)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)sign \(x\) is not below num_classes = 3.*7"):
        next(iter(get_tfrec_dataset([tmp_path / "big-1.tfrecords"], batch_size=1, num_classes=3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes = 7"):  # the boundary: 7 is not < 7
        preprocess({"coordinates": tf.constant(x), "sign": tf.constant(7, tf.int64)}, num_classes=7)
    _, y = preprocess({"coordinates": tf.constant(x), "sign": tf.constant(7, tf.int64)}, num_classes=8)
    assert y.numpy().argmax() == 7 and y.numpy().sum() == 1
    neg = tf.train.Example(
        features=tf.train.Features(
            feature={  # serialize_example refuses < 0
                "coordinates": tf.train.Feature(bytes_list=tf.train.BytesList(value=[x.tobytes()])),
                "sign": tf.train.Feature(int64_list=tf.train.Int64List(value=[-1])),
            }
        )
    ).SerializeToString()
    write_tfrecord(tmp_path / "neg-1.tfrecords", [neg])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)sign \(x\) is negative.*-1"):
        next(iter(get_tfrec_dataset([tmp_path / "neg-1.tfrecords"], batch_size=1, num_classes=3, seed=0)))


def test_count_data_items_names():
    from pathlib import Path

    assert count_data_items(["gs://b/islr-5fold/fold0-3-1000.tfrecords", Path("x/fold1-0-5.tfrecords")]) == 1005
    assert count_data_items([]) == 0
    with pytest.raises(ValueError, match=r"'/data/train\.tfrecords'.*'-<count>\.'"):
        count_data_items(["fold0-3-1000.tfrecords", "/data/train.tfrecords"])


def test_conversion_refuses_to_mix_with_old_files(converted):
    root, out, files = converted
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_tfrecords(root, out, n_folds=3, progress=False)
    with pytest.raises(ValueError, match="without splitting a signer"):
        write_tfrecords(root, out / "x", n_folds=9, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# The input-pipeline benchmark
# ---------------------------------------------------------------------------------------------------------------
def load_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "islr_input_pipeline.py"
    spec = importlib.util.spec_from_file_location("islr_input_pipeline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_limits_real_data_and_cleans_up(tmp_path, monkeypatch, capsys):
    bench = load_benchmark()
    assert bench.resolve_limit(None, real=True) == 200  # never the whole 94k (~23 GB) by default
    assert bench.resolve_limit(None, real=False) is None
    assert bench.resolve_limit(0, real=True) is None and bench.resolve_limit(50, real=True) == 50
    made = []

    def mkdtemp(prefix=""):
        d = tmp_path / f"{prefix}{len(made)}"
        d.mkdir()
        made.append(d)
        return str(d)

    monkeypatch.setattr(bench.tempfile, "mkdtemp", mkdtemp)
    bench.main(
        [
            "--synthetic",
            "--n-signs",
            "2",
            "--n-per-sign",
            "2",
            "--participants",
            "2",
            "--folds",
            "2",
            "--workers",
            "1",
            "--repeats",
            "1",
            "--batch-size",
            "4",
            "--max-len",
            "8",
        ]
    )
    out = capsys.readouterr().out
    assert "4 sequences" in out and "sequences/s" in out and " frames" in out
    assert made and not any(d.exists() for d in made)  # its temporary folder is gone

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr("sign_notes.islr.tfrecord.write_tfrecords", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        bench.main(
            [
                "--synthetic",
                "--n-signs",
                "2",
                "--n-per-sign",
                "1",
                "--participants",
                "1",
                "--folds",
                "1",
                "--repeats",
                "1",
            ]
        )
    assert len(made) == 2 and not made[1].exists()  # deleted on an error too


# ---------------------------------------------------------------------------------------------------------------
# Issue 11: conversions that are interrupted, stale or damaged
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path):
    "6 sequences of 3 signers, converted into 6 one-sequence shards in this process."
    root = make_synthetic_islr(tmp_path / "src", n_signs=2, n_per_sign=3, n_participants=3, seed=1, progress=False)
    files = write_tfrecords(root, tmp_path / "tfr", n_folds=3, shard_size=1, n_workers=1, progress=False)
    return root, tmp_path / "tfr", files


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_interrupted_overwrite_keeps_the_old_conversion(tiny, monkeypatch):
    import sign_notes.islr.tfrecord as tfrecord_mod

    root, out, files = tiny
    before, calls = snapshot(out), []
    write_shard = tfrecord_mod._write_shard

    def interrupted(job):  # the third shard never finishes
        calls.append(job)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write_shard(job)

    monkeypatch.setattr(tfrecord_mod, "_write_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_tfrecords(root, out, n_folds=3, shard_size=2, n_workers=1, overwrite=True, progress=False)
    assert snapshot(out) == before  # the old conversion, complete and untouched
    assert count_data_items(files) == 6
    (partial,) = [p for p in out.parent.iterdir() if p.name.startswith(".tfr.partial-")]  # kept, to resume from
    assert len(list(partial.glob("fold*.done.json"))) == 2 and len(list(partial.glob("fold*.tfrecords"))) == 2

    # issue 16: the same call again resumes: only the 3rd shard is written, then the conversion is complete
    calls.clear()
    monkeypatch.setattr(tfrecord_mod, "_write_shard", lambda job: calls.append(job) or write_shard(job))
    resumed = write_tfrecords(root, out, n_folds=3, shard_size=2, n_workers=1, overwrite=True, progress=False)
    assert [(j["fold"], j["shard"]) for j in calls] == [(2, 0)]
    assert count_data_items(resumed) == 6 and len(resumed) == 3 and not partial.exists()
    assert not list(out.glob("*.done.json"))
    whole = write_tfrecords(root, out.parent / "whole", n_folds=3, shard_size=2, n_workers=1, progress=False)
    assert [f.read_bytes() for f in resumed] == [f.read_bytes() for f in whole]  # as if never interrupted
    assert (out / "folds.csv").read_text() == (out.parent / "whole" / "folds.csv").read_text()

    monkeypatch.setattr(tfrecord_mod, "_write_shard", write_shard)
    replace, moved = os.replace, []

    def cut(src, dst):  # interrupted while the finished conversion is moved in
        if os.path.dirname(dst) == str(out):
            if len(moved) == 2:
                raise KeyboardInterrupt
            moved.append(dst)
        replace(src, dst)

    monkeypatch.setattr(tfrecord_mod.os, "replace", cut)
    with pytest.raises(KeyboardInterrupt):
        write_tfrecords(root, out, n_folds=3, shard_size=2, n_workers=1, overwrite=True, progress=False)
    monkeypatch.setattr(tfrecord_mod.os, "replace", replace)
    assert not (out / "conversion.json").exists()  # half moved in: never marked complete...
    new = write_tfrecords(root, out, n_folds=3, shard_size=2, n_workers=1, overwrite=True, reuse=True, progress=False)
    assert count_data_items(new) == 6 and len(new) == 3  # ...so it is converted again, not reused
    assert sorted(p.name for p in out.glob("fold*.tfrecords*")) == sorted(f.name for f in new)


def test_damaged_shards_are_refused_by_name(tiny, tmp_path):
    from sign_notes.islr.tfrecord import scan_tfrecord

    root, out, files = tiny
    assert [scan_tfrecord(f) for f in files] == [1] * 6
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match=rf"{files[1].name}.*conversion.json recorded .*truncated"):
        count_data_items(files)
    with pytest.raises(ValueError, match=rf"{files[1].name}.*truncated"):  # reuse checks the files first
        write_tfrecords(root, out, n_folds=3, shard_size=1, n_workers=1, reuse=True, overwrite=True, progress=False)
    with pytest.raises(ValueError, match=rf"{files[1].name}: a damaged TFRecord file"):
        scan_tfrecord(files[1])
    files[2].write_bytes(b"")  # 0 bytes, with no conversion.json beside it either
    lone = tmp_path / "elsewhere" / files[2].name
    lone.parent.mkdir()
    lone.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{lone.name}: an empty TFRecord file \(0 bytes\).*1 record"):
        count_data_items([lone])
    (out / files[1].name).write_bytes(data)
    (out / files[2].name).unlink()
    with pytest.raises(FileNotFoundError, match=rf"{files[2].name}: listed in .*conversion.json but missing"):
        write_tfrecords(root, out, n_folds=3, shard_size=1, n_workers=1, reuse=True, overwrite=True, progress=False)
