"Tests of the framework-free foundation: landmarks layout, Kaggle-format data, synthetic data, devices, imports."

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sign_notes import landmarks as L
from sign_notes.data import (
    find_dataset,
    frames_to_dataframe,
    load_relevant_data_subset,
    read_sign_map,
    read_train_csv,
    write_landmark_parquet,
)
from sign_notes.stats import dataset_stats, sequence_stats, summarize_stats
from sign_notes.synth import get_dataset, make_synthetic_islr
from sign_notes.device import detect_device, mixed_precision_policy, seed_everything


# ---------------------------------------------------------------- layout
def test_layout_constants():
    assert L.ROWS_PER_FRAME == 543
    assert [L.TYPE_OFFSETS[t] for t in L.LANDMARK_TYPES] == [0, 468, 489, 522]
    assert L.NUM_NODES == len(L.POINT_LANDMARKS) == 118 and L.CHANNELS == 708
    assert L.LHAND == list(range(468, 489)) and L.RHAND == list(range(522, 543))
    assert len(L.LIP) == 40 and L.LIP[:7] == [0, 61, 185, 40, 39, 37, 267] and L.NOSE == [1, 2, 98, 327]
    assert L.POSE == [500, 502, 504, 501, 503, 505, 512, 513]
    for left, right in [(L.LLIP, L.RLIP), (L.LEYE, L.REYE), (L.LNOSE, L.RNOSE), (L.LPOSE, L.RPOSE)]:
        assert len(left) == len(right) and not set(left) & set(right)


def test_connections_are_valid_rows():
    assert len(L.HAND_CONNECTIONS) == 21 and len(L.POSE_CONNECTIONS) == 35
    for part in L.LANDMARK_TYPES:
        lo, hi = L.TYPE_OFFSETS[part], L.TYPE_OFFSETS[part] + L.TYPE_SIZES[part]
        assert all(lo <= i < hi and lo <= j < hi for i, j in L.connections(part))
    with pytest.raises(ValueError, match="unknown part 'foot'"):
        L.connections("foot")


# ---------------------------------------------------------------- reading and writing
def _frames(T=3, seed=0):
    x = np.random.default_rng(seed).random((T, 543, 3)).astype(np.float32)
    x[:, 522:543] = np.nan
    return x


def test_schema_round_trip(tmp_path):
    x = _frames(5)
    p = write_landmark_parquet(x, tmp_path / "a.parquet", start_frame=83)
    back = load_relevant_data_subset(p)
    assert back.dtype == np.float32 and back.shape == (5, 543, 3)
    assert np.array_equal(back, x, equal_nan=True)
    df = pd.read_parquet(p)
    assert list(df.columns) == ["frame", "row_id", "type", "landmark_index", "x", "y", "z"]
    assert df.frame.dtype == np.int16 and df.landmark_index.dtype == np.int16 and df.x.dtype == np.float64
    assert df.row_id.iloc[0] == "83-face-0" and df.row_id.iloc[543 + 468] == "84-left_hand-0"
    schema = pq.read_schema(p).remove_metadata()
    assert [str(t) for t in schema.types] == ["int16", "string", "string", "int16", "double", "double", "double"]


def test_real_file_loads_exactly(real_islr):
    x = load_relevant_data_subset(real_islr)
    assert x.shape == (105, 543, 3) and x.dtype == np.float32
    df = pd.read_parquet(real_islr)
    assert np.array_equal(x.reshape(-1, 3), df[["x", "y", "z"]].to_numpy(np.float32), equal_nan=True)
    assert np.isnan(x[:, 522:543]).all()  # right hand never found
    assert (~np.isnan(x[:, 468:489, 0]).all(1)).sum() == 6  # left hand in 6 frames
    assert df.frame.min() == 83 and df.frame.max() == 187
    # our writer reproduces the real file's schema and identifiers
    mine = frames_to_dataframe(x, start_frame=83)
    assert (mine.row_id.to_numpy() == df.row_id.to_numpy()).all()
    assert (mine.landmark_index.to_numpy() == df.landmark_index.to_numpy()).all()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: pd.concat([d.iloc[543:1086], d.iloc[:543], d.iloc[1086:]]), "frame 0 follows frame 1"),
        (lambda d: pd.concat([d.iloc[:468].sample(frac=1, random_state=0), d.iloc[468:]]), "wrong landmark order"),
        (lambda d: d.iloc[:-1], "1628 rows is not a multiple of 543"),
        (lambda d: d.drop(columns="y"), "missing column(s) ['y']"),
        (lambda d: d.drop(columns="type"), "missing column(s) ['type']"),
        (lambda d: d.iloc[::-1], "wrong type order"),
        (
            lambda d: pd.concat([d.iloc[468:489], d.iloc[:468], d.iloc[489:]]),
            "frame 0 row 0 is 'left_hand', expected 'face'",
        ),
        (lambda d: d.iloc[:0], "empty sequence"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path, mutate, message):
    df = frames_to_dataframe(_frames(3))
    mutate(df).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError) as e:
        load_relevant_data_subset(tmp_path / "bad.parquet")
    assert message in str(e.value)


def test_bad_frames_to_write():
    with pytest.raises(ValueError, match=r"\[T, 543, 3\]"):
        frames_to_dataframe(np.zeros((2, 542, 3)))
    with pytest.raises(ValueError, match="empty sequence"):
        frames_to_dataframe(np.zeros((0, 543, 3)))


# ---------------------------------------------------------------- dataset files and synthetic data
@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_synthetic_islr(
        tmp_path_factory.mktemp("islr"), n_signs=5, n_per_sign=6, n_participants=5, seed=1, progress=False
    )


def test_synthetic_layout(synth, real_islr):
    train = read_train_csv(synth)
    assert list(train.columns) == ["path", "participant_id", "sequence_id", "sign"] and len(train) == 30
    assert read_sign_map(synth) == {f"sign_{k:03d}": k for k in range(5)}
    for _, row in train.iterrows():
        assert row.path == f"train_landmark_files/{row.participant_id}/{row.sequence_id}.parquet"
        assert (synth / row.path).exists()
    assert pq.read_schema(synth / train.path[0]).remove_metadata() == pq.read_schema(real_islr).remove_metadata()


def test_synthetic_sequences_look_real(synth):
    stats = dataset_stats(synth, progress=False)
    assert stats.frames.min() >= 6
    firsts = [pd.read_parquet(synth / p, columns=["frame"]).frame.iloc[0] for p in stats.path]
    assert min(firsts) > 0  # frame numbers do not start at 0
    assert 0 < stats.missing_both_hands.mean() < 0.5  # hands are lost now and then
    assert set(stats.dominant) == {"left", "right"}  # some signers are left-handed
    table = summarize_stats(stats)
    assert table.loc["sequences", "value"] == 30


def test_synthetic_is_deterministic(tmp_path):
    a = make_synthetic_islr(tmp_path / "a", n_signs=2, n_per_sign=2, n_participants=2, seed=3, progress=False)
    b = make_synthetic_islr(tmp_path / "b", n_signs=2, n_per_sign=2, n_participants=2, seed=3, progress=False)
    ta, tb = read_train_csv(a), read_train_csv(b)
    assert ta.equals(tb)
    for p in ta.path:
        assert np.array_equal(load_relevant_data_subset(a / p), load_relevant_data_subset(b / p), equal_nan=True)


def test_synthetic_lengths_like_real(tmp_path):
    root = make_synthetic_islr(tmp_path, n_signs=4, n_per_sign=40, n_participants=4, seed=0, progress=False)
    frames = np.array([len(load_relevant_data_subset(root / p)) for p in read_train_csv(root).path])
    assert 14 <= np.median(frames) <= 28 and frames.max() > 2 * np.median(frames)


def test_synthetic_signs_are_distinct_and_consistent(tmp_path):
    "A model-free check: the dominant wrist's path separates signs (nearest neighbour beats chance by far)."
    root = make_synthetic_islr(tmp_path, n_signs=6, n_per_sign=8, n_participants=4, seed=0, progress=False)
    train = read_train_csv(root)

    def track(x):
        r, l = x[:, 522, :2], x[:, 468, :2]
        w = (l if np.isnan(r).mean() > np.isnan(l).mean() else r) - x[:, 1, :2]
        w = w[~np.isnan(w).any(1)]
        return np.abs(w[np.linspace(0, len(w) - 1, 8).round().astype(int)]).ravel()

    f = np.stack([track(load_relevant_data_subset(root / p)) for p in train.path])
    d = ((f[:, None] - f[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    acc = (train.sign.to_numpy()[d.argmin(1)] == train.sign.to_numpy()).mean()
    assert acc > 0.5, acc


def test_real_sign_names(tmp_path):
    from sign_notes.core import shared_data

    shared = shared_data("islr", "sign_to_prediction_index_map.json")
    if shared is None:
        pytest.skip("../shared/data/islr/sign_to_prediction_index_map.json is absent")
    real_map = read_sign_map(shared)
    assert len(real_map) == 250 and real_map["TV"] == 0 and real_map["zipper"] == 249
    root = make_synthetic_islr(tmp_path, n_signs=3, n_per_sign=1, n_participants=1, sign_map=real_map, progress=False)
    assert list(read_sign_map(root)) == [s for s, _ in sorted(real_map.items(), key=lambda kv: kv[1])][:3]


def test_dataset_readers_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train.csv"):
        read_train_csv(tmp_path)
    pd.DataFrame({"path": ["a"], "sign": ["b"]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['participant_id', 'sequence_id'\]"):
        read_train_csv(tmp_path)
    (tmp_path / "sign_to_prediction_index_map.json").write_text(json.dumps({"a": 0, "b": 2}))
    with pytest.raises(ValueError, match="indices must be 0..1"):
        read_sign_map(tmp_path)
    with pytest.raises(FileNotFoundError, match="not an ISLR dataset"):
        find_dataset(tmp_path / "nothing")
    with pytest.raises(ValueError, match="n_signs"):
        make_synthetic_islr(tmp_path / "x", n_signs=0)
    with pytest.raises(ValueError, match="only 1 signs"):
        make_synthetic_islr(tmp_path / "x", n_signs=2, sign_map={"a": 0})
    with pytest.raises(ValueError, match="refusing to overwrite"):
        make_synthetic_islr(tmp_path, n_signs=1, n_per_sign=1, n_participants=1)
    with pytest.raises(ValueError, match="frame numbers are int16"):
        frames_to_dataframe(np.zeros((3, 543, 3)), start_frame=32766)


def test_bad_dataset_env_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGN_NOTES_ISLR", str(tmp_path / "asl-signs"))
    with pytest.raises(FileNotFoundError, match="SIGN_NOTES_ISLR=.*asl-signs is not an ISLR dataset"):
        find_dataset()


def test_get_dataset_remakes_on_other_settings(tmp_path):
    kw = dict(n_per_sign=1, n_participants=1, progress=False)
    root = get_dataset(synthetic_root=tmp_path / "s", n_signs=2, **kw)
    assert read_train_csv(root).sign.nunique() == 2
    root = get_dataset(synthetic_root=tmp_path / "s", n_signs=3, **kw)
    train = read_train_csv(root)
    assert train.sign.nunique() == 3
    assert len(list((root / "train_landmark_files").rglob("*.parquet"))) == len(train) == 3  # no stale files


def test_find_dataset_prefers_real(tmp_path, monkeypatch, synth):
    monkeypatch.setenv("SIGN_NOTES_ISLR", str(synth))
    assert find_dataset() == synth
    assert get_dataset(synthetic_root=tmp_path / "unused") == synth
    monkeypatch.delenv("SIGN_NOTES_ISLR")
    if find_dataset() is None:  # no Kaggle data attached: falls back to (and makes) synthetic data
        root = get_dataset(synthetic_root=tmp_path / "syn", n_signs=2, n_per_sign=1, n_participants=1, progress=False)
        assert read_train_csv(root).shape[0] == 2


def test_sequence_stats():
    assert sequence_stats(np.full((2, 543, 3), np.nan))["dominant"] == "none"
    x = _frames(4)
    x[1, 468:489] = np.nan
    s = sequence_stats(x)
    assert (
        s["frames"] == 4
        and s["missing_right_hand"] == 1.0
        and s["missing_left_hand"] == 0.25
        and s["dominant"] == "left"
    )


# ---------------------------------------------------------------- devices and imports
def test_seed_everything_repeats():
    seed_everything(7)
    a = np.random.rand(4)
    seed_everything(7)
    assert np.array_equal(a, np.random.rand(4))


def test_device_policy(monkeypatch):
    monkeypatch.setenv("SIGN_NOTES_DEVICE", "tpu")
    assert detect_device() == "TPU" and mixed_precision_policy() == "mixed_bfloat16"
    monkeypatch.setenv("SIGN_NOTES_DEVICE", "gpu")
    assert mixed_precision_policy() == "mixed_float16"
    monkeypatch.setenv("SIGN_NOTES_DEVICE", "cpu")
    assert mixed_precision_policy() == "float32"
    monkeypatch.setenv("SIGN_NOTES_DEVICE", "npu")
    with pytest.raises(ValueError, match="SIGN_NOTES_DEVICE='NPU'"):
        detect_device()


FRAMEWORK_FREE = [
    "sign_notes",
    "sign_notes.core",
    "sign_notes.landmarks",
    "sign_notes.data",
    "sign_notes.synth",
    "sign_notes.stats",
    "sign_notes.viz",
    "sign_notes.graph",
    "sign_notes.device",
    "sign_notes.cli",
    "sign_notes.fsd",
    "sign_notes.islr.tfrecord",
]


@pytest.mark.parametrize("module", FRAMEWORK_FREE)
def test_framework_free_imports(module):
    code = (
        f"import sys, {module}; print('tensorflow' in sys.modules or 'keras' in sys.modules, 'paddle' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["False", "False"], f"{module} imports a framework"


def test_get_strategy_in_subprocess():
    "TensorFlow's strategy on this machine (CPU in CI): three values, unpackable as the seed does."
    pytest.importorskip("tensorflow", reason="TensorFlow not installed ([tf] extra)")
    code = (
        "from sign_notes.device import get_strategy\n"
        "s, n, tpu = get_strategy(verbose=False)\n"
        "info = get_strategy('cpu', verbose=False)\n"
        "print(n, tpu, info.device, info.policy)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    n, tpu, dev, policy = r.stdout.split()
    assert int(n) >= 1 and tpu == "False" and dev == "CPU" and policy == "float32"


@pytest.mark.parametrize(
    "framework, draw",
    [
        ("tensorflow", "import tensorflow as tf; f = lambda: tf.random.uniform([3]).numpy()"),
        ("paddle", "import paddle; f = lambda: paddle.rand([3]).numpy()"),
    ],
)
def test_seed_everything_seeds_loaded_frameworks(framework, draw):
    "Each framework in its own process: seed_everything seeds it when it is already imported."
    pytest.importorskip(framework, reason=f"{framework} not installed")
    code = f"{draw}\nfrom sign_notes.device import seed_everything\nseed_everything(3); a = f()\nseed_everything(3); b = f()\nprint((a == b).all())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "True"
