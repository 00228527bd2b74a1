"Tests of the framework-free foundation: landmarks layout, Kaggle-format data, synthetic data, devices, imports."

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from sign_notes import landmarks as L
from sign_notes.core import Config, check_int, save_fig
from sign_notes.data import (
    find_dataset,
    frames_to_dataframe,
    load_relevant_data_subset,
    read_sign_map,
    read_train_csv,
)
from sign_notes.stats import dataset_stats, sequence_stats, summarize_stats
from sign_notes.synth import get_dataset, make_synthetic_islr
from sign_notes.device import detect_device, mixed_precision_policy, seed_everything


# ---------------------------------------------------------------- core: bad input (the notebooks show the good paths)
def test_check_int_refuses_what_is_not_a_count():
    assert check_int(4.0, "k", minimum=1) == 4
    for value, message in [
        (0, "k must be an integer >= 1, got 0"),
        (2.5, "k must be an integer, got 2.5"),
        (True, "got True"),
        ("3", "got '3'"),
        (9, "k must be an integer <= 8, got 9"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            check_int(value, "k", minimum=1, maximum=8)


@dataclass
class _Toy(Config):
    epochs: int = 300
    PRESETS: ClassVar[dict] = {"full": {}, "quick": dict(epochs=2)}


def test_config_names_what_is_wrong():
    with pytest.raises(ValueError, match=re.escape("expected one of ['full', 'quick']")):
        _Toy.preset("huge")
    with pytest.raises(ValueError, match=re.escape("unknown _Toy field(s) ['epoch']; the fields are ['epochs']")):
        _Toy.quick(epoch=3)
    with pytest.raises(ValueError, match=re.escape("['dims']")):
        _Toy.full().updated(dims=3)


def test_save_fig_needs_a_name():
    with pytest.raises(ValueError, match="non-empty"):
        save_fig(None, "", "00_core")


def test_connections_unknown_part():
    with pytest.raises(ValueError, match="unknown part 'foot'"):
        L.connections("foot")


# ---------------------------------------------------------------- reading and writing
def _frames(T=3, seed=0):
    x = np.random.default_rng(seed).random((T, 543, 3)).astype(np.float32)
    x[:, 522:543] = np.nan
    return x


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
        (lambda d: d.assign(frame=(np.arange(len(d)) % 2).astype(np.int16)), "rows of different frames are mixed"),
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
    "sign_notes.islr",
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
    code = (
        f"{draw}\nfrom sign_notes.device import seed_everything\n"
        "seed_everything(3)\na = f()\nseed_everything(3)\nb = f()\nprint((a == b).all())"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "True"


# ---------------------------------------------------------------- issue 11: bad input, data loss
def _tree(root):
    "Every file under `root` -> its bytes."
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _kaggle_like(root):
    "A folder like the real download without train.csv: one recording and a sign map."
    from sign_notes.data import write_landmark_parquet

    write_landmark_parquet(_frames(2), root / "train_landmark_files" / "16069" / "100015657.parquet")
    (root / "sign_to_prediction_index_map.json").write_text(json.dumps({"TV": 0, "after": 1, "airplane": 2}))
    return root


def test_synth_refuses_files_it_did_not_write(tmp_path):
    "Row 1: real Kaggle files (no train.csv) or a reader's own file beside a synthetic dataset are never deleted."
    real = _kaggle_like(tmp_path / "asl-signs")
    before = _tree(real)
    with pytest.raises(ValueError, match=re.escape(f"{real / 'sign_to_prediction_index_map.json'}")):
        make_synthetic_islr(real, n_signs=2, n_per_sign=1, n_participants=1, progress=False)
    assert _tree(real) == before
    (real / "sign_to_prediction_index_map.json").unlink()
    with pytest.raises(ValueError, match=re.escape(f"{real / 'train_landmark_files/16069/100015657.parquet'}")):
        make_synthetic_islr(real, n_signs=2, n_per_sign=1, n_participants=1, progress=False)
    assert (real / "train_landmark_files/16069/100015657.parquet").read_bytes() == before[
        "train_landmark_files/16069/100015657.parquet"
    ]
    ours = make_synthetic_islr(tmp_path / "ours", n_signs=2, n_per_sign=1, n_participants=1, progress=False)
    (ours / "train_landmark_files" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"notes\.txt.*did not write"):
        make_synthetic_islr(ours, n_signs=3, n_per_sign=1, n_participants=1, progress=False)
    assert (ours / "train_landmark_files" / "notes.txt").read_text() == "mine" and read_train_csv(ours).shape[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asl-signs", "ours"]  # nothing left beside them


def test_synth_into_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        make_synthetic_islr(tmp_path / "f", n_signs=1, n_per_sign=1, n_participants=1, progress=False)
    assert (tmp_path / "f").read_text() == "x"


def test_synth_regeneration_is_atomic(tmp_path, monkeypatch):
    "Row 2: interrupted after 2 files, the old dataset is intact, and a first run leaves nothing that looks complete."
    import sign_notes.synth as synth_mod
    from sign_notes.data import is_islr_dataset

    root = make_synthetic_islr(tmp_path / "d", n_signs=2, n_per_sign=2, n_participants=2, progress=False)
    before = _tree(root)
    real_write, calls = synth_mod.write_landmark_parquet, []

    def interrupted(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[1])
        return real_write(*args, **kwargs)

    monkeypatch.setattr(synth_mod, "write_landmark_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_islr(root, n_signs=3, n_per_sign=2, n_participants=2, progress=False)
    assert _tree(root) == before and is_islr_dataset(root)  # no partial folder left in it either
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_islr(tmp_path / "new", n_signs=3, n_per_sign=2, n_participants=2, progress=False)
    assert not is_islr_dataset(tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # the partial folder was removed


@pytest.mark.parametrize("damage", ["random", "half", "empty", "flipped"])
def test_corrupt_parquet_names_the_file(tmp_path, damage):
    "Row 14: a damaged file gets an error naming it, not pyarrow's '<Buffer>'."
    from sign_notes.data import write_landmark_parquet

    good = write_landmark_parquet(_frames(3), tmp_path / "good.parquet").read_bytes()
    bad = tmp_path / "bad.parquet"
    if damage == "flipped":
        bad.write_bytes(bytes(b ^ 0xFF if 100 <= i < len(good) - 300 else b for i, b in enumerate(good)))
    else:
        bad.write_bytes({"random": np.random.default_rng(0).bytes(5000), "half": good[: len(good) // 2], "empty": b""}[
            damage
        ])
    with pytest.raises(ValueError, match=re.escape(f"{bad} is not a readable parquet file")) as e:
        load_relevant_data_subset(bad)
    assert "<Buffer>" not in str(e.value)


def test_corrupt_parquet_in_dataset_stats(tmp_path):
    root = make_synthetic_islr(tmp_path / "d", n_signs=2, n_per_sign=1, n_participants=1, progress=False)
    victim = root / read_train_csv(root).path.iloc[1]
    victim.write_bytes(victim.read_bytes()[:100])
    with pytest.raises(ValueError, match=re.escape(f"{victim} is not a readable parquet file")):
        dataset_stats(root, progress=False)


def test_malformed_sign_map_names_the_file(tmp_path):
    "Row 18."
    p = tmp_path / "sign_to_prediction_index_map.json"
    p.write_text('{"TV": 0, "after": ')
    with pytest.raises(ValueError, match=re.escape(f"{p} is not valid JSON")):
        read_sign_map(tmp_path)
    p.write_bytes(b"\xba\xff")
    with pytest.raises(ValueError, match=re.escape(f"{p} is not valid JSON")):
        read_sign_map(p)
    p.write_text('{"TV": 0, "after": "1"}')
    with pytest.raises(ValueError, match=re.escape(f"{p}: indices must be 0..1")):
        read_sign_map(p)


def test_stats_of_a_parquet_file_says_so(synth):
    "Row 22: a .parquet given where a dataset folder is expected."
    pq_file = synth / read_train_csv(synth).path.iloc[0]
    for read in (read_train_csv, lambda p: dataset_stats(p, progress=False)):
        with pytest.raises(ValueError, match=re.escape(f"expected a dataset folder holding train.csv, got a parquet "
                                                       f"file {pq_file}")):
            read(pq_file)
    assert len(dataset_stats(synth / "train.csv", limit=2, progress=False)) == 2  # train.csv itself is fine


def test_stats_limit_must_be_positive(synth):
    "Row 16 (library side)."
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="limit must be an integer"):
            dataset_stats(synth, limit=bad, progress=False)
    assert len(dataset_stats(synth, limit=1, progress=False)) == 1
