"""Tests of the framework-free FSD tools (sign_notes.fsd): AutoPadding, the synthetic skaters, load_fsd.

numpy only: no Paddle and no TensorFlow needed. The AutoPadding checks run on synthetic arrays; the same checks on
PaddleVideo's real clip (../shared/data/fsd/example_skeleton.npy) skip with a reason when it is absent."""

import subprocess
import sys

import numpy as np
import pytest

from sign_notes.fsd import AutoPadding, load_fsd, make_synthetic_fsd, move_angles, synth_fsd_clip


def seed_get_frame_num(data):
    "PaddleVideo's AutoPadding.get_frame_num, verbatim: the last frame whose SUM is > 0 (for comparison)."
    C, T, V, M = data.shape
    for i in range(T - 1, -1, -1):
        if np.sum(data[:, i, :, :]) > 0:
            return i + 1
    return T


@pytest.fixture
def padded_clip():
    "A synthetic skater like the real example: 117 real frames (x, y, confidence) then zeros, in a 2500-frame array."
    clip = np.zeros((3, 2500, 25, 1), np.float32)
    clip[:, :117] = synth_fsd_clip(3, 117, np.random.default_rng(0))
    clip[:, :117, 8] += 0.01  # the MidHip is never "lost": every real frame has a non-zero value
    return clip


@pytest.fixture
def example(real_fsd):
    "PaddleVideo's real FSD clip (3, 2500, 25, 1): 117 real frames then zeros (skips when ../shared/data is absent)."
    return np.load(real_fsd)


# ---------------------------------------------------------------- AutoPadding on synthetic arrays
def test_autopadding_pads_to_1000(padded_clip):
    ap = AutoPadding(1000)
    assert ap.get_frame_num(padded_clip) == 117
    out = ap(padded_clip)
    assert out.shape == (3, 1000, 25, 1) and out.dtype == padded_clip.dtype
    np.testing.assert_array_equal(out[:, :117], padded_clip[:, :117])
    assert not out[:, 117:].any()


def test_autopadding_samples_down_to_100(padded_clip):
    out = AutoPadding(100)({"data": padded_clip, "label": 0})["data"]
    assert out.shape == (3, 100, 25, 1)
    index = np.linspace(0, 116, 100).round().astype(int)  # first and last REAL frames, evenly spaced
    np.testing.assert_array_equal(out, padded_clip[:, index])
    np.testing.assert_array_equal(
        out[:, -1], padded_clip[:, 116]
    )  # the seed's linspace(0, T, w) ends on frame 117: padding
    assert np.all(np.any(out != 0, axis=(0, 2, 3)))  # no padding frame sneaks in


def test_autopadding_clip_that_fills_its_array():
    clip = np.arange(1.0, 41.0)[None, :, None, None] * np.ones((2, 40, 25, 1))  # 40 real frames in a 40-frame array
    with pytest.raises(IndexError):  # the seed's index includes frame 40
        clip[:, np.linspace(0, 40, 10).astype("int64")]
    out = AutoPadding(10)(clip)
    assert out.shape == (2, 10, 25, 1)
    np.testing.assert_array_equal(out[0, :, 0, 0], np.linspace(1, 40, 10).round())
    np.testing.assert_array_equal(AutoPadding(40)(clip), clip)  # exactly the window: kept as it is


def test_autopadding_counts_frames_that_sum_to_zero_or_less():
    rng = np.random.default_rng(0)
    clip = np.zeros((2, 30, 25, 1))  # x, y only, 20 real frames, then padding
    clip[:, :20] = rng.uniform(-0.4, 0.4, (2, 20, 25, 1))
    clip[:, 0] = np.abs(clip[:, 0])  # a first frame the seed counts too
    clip[:, 12:19] = -np.abs(clip[:, 12:19])  # real frames 12..18 sum to < 0 ...
    clip[0, 19], clip[1, 19] = 0.25, -0.25  # ... and the last one to exactly 0
    clip[:, 5] = 0  # a missed frame in the middle stays a frame
    assert 1 <= seed_get_frame_num(clip) <= 12  # the seed cuts the clip short
    assert AutoPadding(30).get_frame_num(clip) == 20
    out = AutoPadding(25)(clip)
    np.testing.assert_array_equal(out[:, :20], clip[:, :20])
    assert not out[:, 20:].any()
    np.testing.assert_array_equal(AutoPadding(10)(clip)[:, -1], clip[:, 19])


def test_autopadding_random_subset_is_sorted():
    np.random.seed(0)
    clip = np.arange(1.0, 41.0)[None, :, None, None] * np.ones((2, 40, 25, 1))
    clip = np.concatenate([clip, np.zeros((2, 20, 25, 1))], axis=1)  # 40 real frames + 20 of padding
    for _ in range(20):
        frames = AutoPadding(10, random_pad=True)(clip)[0, :, 0, 0]
        assert np.all(np.diff(frames) > 0)  # time runs forward, no frame twice
        assert set(frames) <= set(range(1, 41))  # real frames only


def test_autopadding_random_pad_keeps_the_clip_whole():
    clip = np.arange(1.0, 11.0)[None, :, None, None] * np.ones((2, 10, 25, 1))
    for _ in range(10):
        out = AutoPadding(30, random_pad=True)(clip)
        real = np.flatnonzero(np.any(out != 0, axis=(0, 2, 3)))
        assert len(real) == 10 and real[-1] - real[0] == 9  # one block, at some offset
        np.testing.assert_array_equal(out[:, real], clip)


def test_autopadding_edge_cases():
    assert AutoPadding(5)(np.zeros((2, 9, 25, 1))).shape == (2, 5, 25, 1)  # all zeros: 0 real frames
    assert AutoPadding(5).get_frame_num(np.zeros((2, 9, 25, 1))) == 0
    with pytest.raises(ValueError, match=r"\(C, T, V, M\)"):
        AutoPadding(10)(np.zeros((5, 25, 1)))
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="window_size"):
            AutoPadding(bad)


# ---------------------------------------------------------------- AutoPadding on the real FSD clip
def test_autopadding_real_clip_that_fills_its_array(example):
    full = np.ascontiguousarray(example[:, :117])
    out = AutoPadding(100)(full)
    assert out.shape == (3, 100, 25, 1)
    np.testing.assert_array_equal(out[:, -1], full[:, -1])
    assert AutoPadding(117)(full).shape == (3, 117, 25, 1)


# ---------------------------------------------------------------- synthetic dataset and load_fsd
def test_synthetic_fsd_bad_input(tmp_path):
    with pytest.raises(ValueError, match="n_classes"):
        make_synthetic_fsd(tmp_path / "bad", n_classes=31)
    with pytest.raises(ValueError, match="min_frames"):
        make_synthetic_fsd(tmp_path / "bad", T=10, min_frames=11)
    with pytest.raises(ValueError, match="twirl"):
        move_angles("twirl", np.zeros(3))
    with pytest.raises(ValueError, match="label"):
        synth_fsd_clip(30, 10, np.random.default_rng(0))


def test_load_fsd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_data.npy"):
        load_fsd(tmp_path)
    np.save(tmp_path / "train_data.npy", np.zeros((3, 2, 5, 25), np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        load_fsd(tmp_path)
    np.save(tmp_path / "train_data.npy", np.zeros((3, 2, 5, 25, 1), np.float32))
    np.save(tmp_path / "train_label.npy", np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="3 clips but 2 labels"):
        load_fsd(tmp_path)


def test_fsd_module_is_framework_free():
    code = "import sys, sign_notes.fsd; print('tensorflow' in sys.modules, 'paddle' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", ["train_data.npy", "train_label.npy"])
def test_load_fsd_names_a_truncated_npy(tmp_path, name):
    "Issue 11 row 19: numpy's message for a cut .npy ('mmap length is greater than file size') named no file."
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=2, n_per_class=3, T=8, seed=0)
    f = root / name
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"{name} cannot be read as a \.npy array.*copy or make it again"):
        load_fsd(root)
