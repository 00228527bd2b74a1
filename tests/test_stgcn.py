"""Tests of the Paddle ST-GCN (sign_notes.stgcn) and the framework-free FSD tools (sign_notes.fsd).

Paddle only: this file never imports TensorFlow (the import-guard test runs TensorFlow in a subprocess)."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from sign_notes.fsd import AutoPadding, load_fsd, make_synthetic_fsd
from sign_notes.stgcn.data import FSDDataset, fsd_split, hands_to_stgcn, make_fsd_loaders
from sign_notes.stgcn.export import export_stgcn, load_exported, max_abs_diff
from sign_notes.stgcn.model import (STGCN_framework, count_parameters, einsum, graph_contract, use_seed_einsum)
from sign_notes.stgcn.train import evaluate, load_checkpoint, train_stgcn

paddle.set_device("cpu")


@pytest.fixture
def example(real_fsd):
    "PaddleVideo's real FSD clip (3, 2500, 25, 1): 117 real frames then zeros (skips when ../shared/data is absent)."
    return np.load(real_fsd)


@pytest.fixture(scope="module")
def model():
    paddle.seed(0)
    m = STGCN_framework(num_classes=30)
    m.eval()
    return m


# ---------------------------------------------------------------- model
def test_parameter_count_is_the_seeds(model):
    assert count_parameters(model) == 3_090_880


def test_output_shapes(model):
    x = paddle.randn([2, 2, 16, 25, 1])
    with paddle.no_grad():
        assert model.backbone(x).shape == [2, 256, 1, 1]
        assert model(x).shape == [2, 30]
        assert model(paddle.randn([1, 2, 16, 25, 2])).shape == [1, 30]   # two persons share the weights


def test_edge_importance_parameters(model):
    imp = list(model.backbone.edge_importance)
    assert len(imp) == 10
    assert all(p.shape == [3, 25, 25] for p in imp)
    assert all(bool((p == 1).all()) for p in imp)
    assert all(not p.stop_gradient for p in imp)
    assert model.backbone.A.shape == [3, 25, 25]
    assert "A" in dict(model.backbone.named_buffers())
    assert count_parameters(STGCN_framework(num_classes=30, edge_importance_weighting=False)) == 3_090_880 - 10 * 3 * 25 * 25


@pytest.mark.parametrize("shape", [[2, 16, 25, 2], [2, 3, 16, 25, 1], [2, 2, 16, 21, 1]])
def test_bad_input_shape_names_the_layout(model, shape):
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        model(paddle.randn(shape))


def test_graph_contract_equals_seed_einsum():
    paddle.seed(1)
    x = paddle.randn([2, 3, 8, 12, 25]); A = paddle.rand([3, 25, 25])
    x.stop_gradient = False; A.stop_gradient = False
    y1 = graph_contract(x, A); gx1, gA1 = paddle.grad(y1.sum() * 1.0, [x, A])
    y2 = einsum(x, A); gx2, gA2 = paddle.grad(y2.sum() * 1.0, [x, A])
    np.testing.assert_allclose(y1.numpy(), y2.numpy(), atol=1e-4)
    np.testing.assert_allclose(y1.numpy(), np.einsum("nkctv,kvw->nctw", x.numpy(), A.numpy()), atol=1e-4)
    np.testing.assert_allclose(gx1.numpy(), gx2.numpy(), atol=1e-4)
    np.testing.assert_allclose(gA1.numpy(), gA2.numpy(), atol=1e-3, rtol=1e-5)


def test_fast_model_equals_seed_formulation(model):
    x = paddle.randn([2, 2, 16, 25, 1])
    with paddle.no_grad():
        ours = model(x).numpy()
        seed = use_seed_einsum(model)(x).numpy()
    use_seed_einsum(model, False)
    np.testing.assert_allclose(ours, seed, atol=1e-4)


def test_hand_layout_model():
    m = STGCN_framework(num_classes=5, in_channels=3, layout="mediapipe-hand", base_channels=8)
    m.eval()
    with paddle.no_grad():
        assert m(paddle.randn([2, 3, 12, 21, 1])).shape == [2, 5]


# ---------------------------------------------------------------- AutoPadding on the real FSD clip
def test_autopadding_pads_the_real_clip(example):
    ex = example
    assert AutoPadding(1000).get_frame_num(ex) == 117
    out = AutoPadding(1000)(ex)
    assert out.shape == (3, 1000, 25, 1)
    np.testing.assert_array_equal(out[:, :117], ex[:, :117])
    assert not out[:, 117:].any()


def test_autopadding_samples_the_real_clip_down(example):
    ex = example
    out = AutoPadding(100)({"data": ex, "label": 0})["data"]
    assert out.shape == (3, 100, 25, 1)
    np.testing.assert_array_equal(out[:, 0], ex[:, 0])
    np.testing.assert_array_equal(out[:, -1], ex[:, 116])          # the last REAL frame, not a padding frame
    assert np.all(np.any(out != 0, axis=(0, 2, 3)))


def test_autopadding_clip_that_fills_its_array(example):
    ex = example
    full = np.ascontiguousarray(ex[:, :117])                        # 117 real frames in a 117-frame array
    out = AutoPadding(100)(full)                                    # the seed's linspace(0, T, w) indexes frame 117
    assert out.shape == (3, 100, 25, 1)
    np.testing.assert_array_equal(out[:, -1], full[:, -1])
    assert AutoPadding(117)(full).shape == (3, 117, 25, 1)


def test_autopadding_counts_frames_that_sum_to_zero_or_less(example):
    ex = example
    short = np.zeros_like(ex[:2]); short[:, :58] = ex[:2, :58]     # x, y only: frames 50..57 sum to <= 0
    assert AutoPadding(10).get_frame_num(short) == 58
    rp = AutoPadding(10, random_pad=True)(np.arange(1.0, 41.0)[None, :, None, None])
    assert list(rp.ravel()) == sorted(rp.ravel())


def test_autopadding_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(C, T, V, M\)"):
        AutoPadding(10)(np.zeros((5, 25, 1)))


# ---------------------------------------------------------------- data
def test_synthetic_fsd_layout(tmp_path):
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=4, n_per_class=3, T=40, seed=0)
    data, labels = load_fsd(root)
    assert data.shape == (12, 3, 40, 25, 1) and data.dtype == np.float32
    assert labels.dtype == np.int64 and sorted(np.bincount(labels)) == [3] * 4
    for clip in data:                                              # real frames, then only zeros
        n = AutoPadding(40).get_frame_num(clip)
        assert 12 <= n <= 40 and not np.asarray(clip[:, n:]).any()
    assert json.loads((root / "synthetic.json").read_text())["n_classes"] == 4


def test_fsd_dataset_and_loaders(tmp_path):
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=3, n_per_class=7, T=30, seed=0)
    tr, va = fsd_split(21)
    assert list(va) == [0, 7, 14] and len(tr) == 18
    x, y = FSDDataset(root, "valid", window_size=20)[0]
    assert x.shape == (2, 20, 25, 1) and x.dtype == np.float32     # confidence channel dropped
    assert FSDDataset(root, "all", window_size=20, in_channels=3)[0][0].shape == (3, 20, 25, 1)
    train_dl, valid_dl = make_fsd_loaders(root, window_size=20, batch_size=4)
    xb, yb = next(iter(train_dl))
    assert xb.shape == [4, 2, 20, 25, 1] and yb.shape == [4]
    assert len(valid_dl.dataset) == 3


def test_hands_to_stgcn_on_real_recording(real_islr):
    from sign_notes.data import load_relevant_data_subset
    clip = hands_to_stgcn(load_relevant_data_subset(real_islr), window_size=16)
    assert clip.shape == (3, 16, 21, 1)
    assert AutoPadding(16).get_frame_num(clip) == 6               # the left hand is seen in 6 frames


# ---------------------------------------------------------------- training bookkeeping
def test_train_loop_saves_and_reloads_best(tmp_path):
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=2, n_per_class=7, T=16, seed=0)
    train_dl, valid_dl = make_fsd_loaders(root, window_size=8, batch_size=4)
    paddle.seed(0)
    m = STGCN_framework(num_classes=2, base_channels=4)
    hist = train_stgcn(m, train_dl, valid_dl, epochs=2, lr=0.05, out_dir=tmp_path / "run", progress=False)
    assert hist["epoch"] == [1, 2] and len(hist["val_acc"]) == 2 and hist["best_epoch"] in (1, 2)
    assert (tmp_path / "run" / "best_model.pdparams").exists()
    fresh = load_checkpoint(STGCN_framework(num_classes=2, base_channels=4), tmp_path / "run" / "best_model.pdparams")
    assert evaluate(fresh, valid_dl)["acc"] == pytest.approx(hist["best_val_acc"])


# ---------------------------------------------------------------- export
def test_jit_save_load_round_trip(tmp_path, model):
    files = export_stgcn(model, tmp_path / "stgcn", window_size=32)
    assert sorted(f.suffix for f in files) == [".json", ".pdiparams"]
    loaded = load_exported(tmp_path / "stgcn")
    x = paddle.randn([3, 2, 32, 25, 1])
    assert max_abs_diff(model, loaded, x) < 1e-4
    with paddle.no_grad():
        assert loaded(x[:1]).shape == [1, 30]                      # the batch axis stays free


# ---------------------------------------------------------------- import guard
def test_fsd_module_is_framework_free():
    code = "import sys, sign_notes.fsd; print('tensorflow' in sys.modules, 'paddle' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["False", "False"]


def test_import_after_tensorflow_raises_clear_error():
    if importlib.util.find_spec("tensorflow") is None:            # find_spec does not import it
        pytest.skip("TensorFlow is not installed, so there is nothing to guard against")
    res = subprocess.run([sys.executable, "-c", "import tensorflow; import sign_notes.stgcn"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr[-2000:]
    assert "ImportError: sign_notes.stgcn needs PaddlePaddle" in res.stderr
    assert "Restart the kernel" in res.stderr
