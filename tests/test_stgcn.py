"""Tests of the Paddle ST-GCN (sign_notes.stgcn). The numpy-only FSD tools are tested in tests/test_fsd.py.

Paddle only: this file never imports TensorFlow. The import-guard tests run in subprocesses, with a stand-in module
named "tensorflow" (so they need no TensorFlow install); one extra test uses the real TensorFlow when it is
installed."""

# ruff: noqa: E402  (the sign_notes.stgcn imports come after pytest.importorskip("paddle"), on purpose)

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
from paddle.static import InputSpec

from sign_notes.data import read_train_csv
from sign_notes.landmarks import SIGN_MAP_NAME
from sign_notes.synth import make_synthetic_islr
from sign_notes.fsd import AutoPadding, load_fsd, make_synthetic_fsd
from sign_notes.stgcn.data import (
    FSDDataset,
    ISLRHandDataset,
    fsd_split,
    hands_to_stgcn,
    make_fsd_loaders,
    make_islr_loaders,
    participant_split,
)
from sign_notes.stgcn.export import (
    export_stgcn,
    exported_input_shape,
    inference_predictor,
    load_exported,
    max_abs_diff,
    predict,
)
from sign_notes.stgcn.model import STGCN_framework, STGCNHead, einsum, graph_contract
import sign_notes.stgcn.train as stgcn_train
from sign_notes.stgcn.pipeline import train_stgcn_main
from sign_notes.stgcn.train import load_checkpoint, save_checkpoint, train_stgcn

paddle.set_device("cpu")


@pytest.fixture(scope="module")
def model():
    paddle.seed(0)
    m = STGCN_framework(num_classes=30)
    m.eval()
    return m


# ---------------------------------------------------------------- model
@pytest.mark.parametrize("shape", [[2, 16, 25, 2], [2, 3, 16, 25, 1], [2, 2, 16, 21, 1]])
def test_bad_input_shape_names_the_layout(model, shape):
    with pytest.raises(ValueError, match=r"\(N, C, T, V, M\)"):
        model(paddle.randn(shape))


def test_graph_contract_keeps_the_batch_axis_free_when_traced():
    "paddle.jit.save traces with a free batch axis; A.unsqueeze(0) made static inference pin it to 1 (review bug)."
    specs = [InputSpec([None, 3, 8, 12, 25], "float32"), InputSpec([3, 25, 25], "float32")]
    traced = paddle.jit.to_static(graph_contract, input_spec=specs, full_graph=True)
    assert list(traced.get_concrete_program(*specs)[0].outputs[0].shape) == [-1, 8, 12, 25]
    x, A = paddle.randn([3, 3, 8, 12, 25]), paddle.rand([3, 25, 25])
    np.testing.assert_allclose(traced(x, A).numpy(), einsum(x, A).numpy(), atol=1e-4)


def test_eager_model_refuses_float64_and_names_the_dtype():
    "Issue 11 row 20: float64 input ended in Paddle's 'The type of data we are trying to retrieve ...' message."
    m = STGCN_framework(num_classes=3, base_channels=4)
    m.eval()
    x = paddle.randn([1, 2, 8, 25, 1])
    with pytest.raises(ValueError, match=r"dtype paddle\.float32, got \[1, 2, 8, 25, 1\] paddle\.float64"):
        m(x.astype("float64"))
    with pytest.raises(ValueError, match=r"\(N, 2, T, 25, M\).*got \[1, 2, 8, 21, 1\]"):
        m(paddle.randn([1, 2, 8, 21, 1]))


def test_head_refuses_unknown_keywords():
    "The seed's head (AI Studio notebook) dropped unknown keyword arguments silently; ours names them."
    with pytest.raises(TypeError, match="dropout"):
        STGCNHead(in_channels=8, num_classes=3, dropout=0.5)
    with pytest.raises(TypeError):
        STGCN_framework(30, 3)  # the backbone's arguments are keywords only


def test_hand_layout_model():
    m = STGCN_framework(num_classes=5, in_channels=3, layout="mediapipe-hand", base_channels=8)
    m.eval()
    with paddle.no_grad():
        assert m(paddle.randn([2, 3, 12, 21, 1])).shape == [2, 5]


# ---------------------------------------------------------------- data
def test_fsd_dataset_and_loaders(tmp_path):
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=3, n_per_class=7, T=30, seed=0)
    tr, va = fsd_split(21)
    assert list(va) == [0, 7, 14] and len(tr) == 18
    data, labels = load_fsd(root)
    valid = FSDDataset(root, "valid", window_size=20)
    for i, j in enumerate(valid.indices):  # the padded clip, confidence channel dropped
        x, y = valid[i]
        assert x.shape == (2, 20, 25, 1) and x.dtype == np.float32 and y == labels[j]
        np.testing.assert_array_equal(x, AutoPadding(20)(np.asarray(data[j]))[:2])
    assert FSDDataset(root, "all", window_size=20, in_channels=3)[0][0].shape == (3, 20, 25, 1)
    train_dl, valid_dl = make_fsd_loaders(root, window_size=20, batch_size=4)
    xb, yb = next(iter(train_dl))
    assert xb.shape == [4, 2, 20, 25, 1] and yb.shape == [4]
    assert len(valid_dl.dataset) == 3


def test_datasets_bad_input(tmp_path):
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=2, n_per_class=4, T=12, seed=0)
    with pytest.raises(ValueError, match="mode"):
        FSDDataset(root, "test")
    with pytest.raises(ValueError, match="in_channels"):
        FSDDataset(root, in_channels=4)
    with pytest.raises(ValueError, match="val_every"):
        fsd_split(10, val_every=1)


def test_hands_to_stgcn_edge_cases():
    assert hands_to_stgcn(np.full((5, 543, 3), np.nan), 8).sum() == 0  # no hand at all: zeros
    with pytest.raises(ValueError, match=r"\[T, 543, 3\]"):
        hands_to_stgcn(np.zeros((5, 21, 3)))


def test_participant_split_holds_out_whole_signers():
    pids = np.repeat([7, 8, 9, 10, 11], [30, 25, 20, 15, 10])
    for seed in range(5):
        tr, va = participant_split(pids, 0.2, seed)
        assert sorted(np.concatenate([tr, va])) == list(range(len(pids)))
        assert not set(pids[tr]) & set(pids[va]) and len(set(pids[tr])) >= 1
        assert len(va) >= 0.2 * len(pids)
    np.testing.assert_array_equal(participant_split(pids, 0.2, 1)[1], participant_split(pids, 0.2, 1)[1])
    assert len(set(pids[participant_split(pids, 0.99)[0]])) == 1  # at least one signer always trains
    with pytest.raises(ValueError, match="2 participants"):
        participant_split([4, 4, 4])
    with pytest.raises(ValueError, match="valid_frac"):
        participant_split(pids, 0)


def test_islr_loaders_split_by_participant(tmp_path):
    root = make_synthetic_islr(tmp_path / "islr", n_signs=2, n_per_sign=10, n_participants=4, seed=0, progress=False)
    pids = read_train_csv(root)["participant_id"].to_numpy()
    train_dl, valid_dl = make_islr_loaders(root, window_size=8, batch_size=4)
    tr, va = train_dl.dataset.indices, valid_dl.dataset.indices
    assert len(tr) + len(va) == 20 and len(va) > 0
    assert not set(pids[tr]) & set(pids[va])  # every-7th would put every signer on both sides
    np.testing.assert_array_equal(ISLRHandDataset(root, "valid", 8).indices, va)
    xb, yb = next(iter(train_dl))
    assert xb.shape == [4, 3, 8, 21, 1] and yb.shape == [4]


def test_islr_dataset_refuses_signs_missing_from_the_map(tmp_path):
    "Issue 11 row 7: a sign absent from the map became label -9223372036854775808, which Paddle's loss took."
    root = make_synthetic_islr(tmp_path / "islr", n_signs=3, n_per_sign=2, n_participants=2, seed=0, progress=False)
    signs = sorted(json.loads((root / SIGN_MAP_NAME).read_text()))
    (root / SIGN_MAP_NAME).write_text(json.dumps({s: i for i, s in enumerate(signs[1:])}))
    with pytest.raises(ValueError, match=rf"\['{signs[0]}'\] \(1 in all\).*not in the sign map"):
        ISLRHandDataset(root, "all", 8)


# ---------------------------------------------------------------- training bookkeeping
def test_train_loop_saves_and_reloads_best(tmp_path, monkeypatch):
    """The checkpoint holds the weights of the best epoch, not the last: validation accuracies are scripted
    (0.5, 0.9, 0.2) so the best epoch is the middle one, and the weights are copied at every evaluation."""
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=2, n_per_class=7, T=16, seed=0)
    train_dl, valid_dl = make_fsd_loaders(root, window_size=8, batch_size=4)
    scripted, snapshots, real_evaluate = iter([0.5, 0.9, 0.2]), [], stgcn_train.evaluate

    def evaluate(model, loader):
        snapshots.append({k: np.array(v.numpy()) for k, v in model.state_dict().items()})
        return dict(real_evaluate(model, loader), acc=next(scripted))

    monkeypatch.setattr(stgcn_train, "evaluate", evaluate)
    paddle.seed(0)
    m = STGCN_framework(num_classes=2, base_channels=4)
    hist = train_stgcn(m, train_dl, valid_dl, epochs=3, lr=0.05, out_dir=tmp_path / "run", progress=False)
    assert hist["epoch"] == [1, 2, 3] and hist["val_acc"] == [0.5, 0.9, 0.2]
    assert hist["best_epoch"] == 2 and hist["best_val_acc"] == 0.9

    ckpt = tmp_path / "run" / "best_model.pdparams"
    saved = {k: np.asarray(v) for k, v in paddle.load(str(ckpt), return_numpy=True).items()}
    best, last = snapshots[1], snapshots[2]
    assert set(saved) == set(best)
    for k in best:
        np.testing.assert_array_equal(saved[k], best[k], err_msg=k)
    assert any(not np.array_equal(best[k], last[k]) for k in best)  # training went on after the best epoch

    fresh = load_checkpoint(STGCN_framework(num_classes=2, base_channels=4), ckpt)
    ref = STGCN_framework(num_classes=2, base_channels=4)
    ref.set_state_dict({k: paddle.to_tensor(v) for k, v in best.items()})
    fresh.eval()
    ref.eval()
    m.eval()
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(4, 2, 8, 25, 1)).astype("float32"))
    with paddle.no_grad():
        np.testing.assert_array_equal(fresh(x).numpy(), ref(x).numpy())  # the reloaded model IS epoch 2
        assert not np.allclose(fresh(x).numpy(), m(x).numpy())  # and not the final one


def test_train_loop_refuses_a_non_finite_batch_and_names_it():
    "Issue 11 row 11: a NaN batch silently turned data_bn's running mean into NaN."
    paddle.seed(0)
    m = STGCN_framework(num_classes=2, base_channels=4)
    x, y = paddle.randn([2, 2, 8, 25, 1]), paddle.to_tensor([0, 1], dtype="int64")
    x_bad = x.numpy()
    x_bad[1, 0, 3, 5, 0] = np.nan
    batches = [(x, y), (paddle.to_tensor(x_bad), y)]
    with pytest.raises(ValueError, match=r"batch 1 \(0-based\) of epoch 1 holds 1 non-finite"):
        train_stgcn(m, batches, epochs=2, progress=False)
    assert np.isfinite(m.backbone.data_bn._mean.numpy()).all()


def test_load_checkpoint_names_a_truncated_file(tmp_path):
    "Issue 11 row 19: paddle.load's message for a cut .pdparams did not say what was wrong or what to do."
    m = STGCN_framework(num_classes=2, base_channels=4)
    ckpt = save_checkpoint(m, tmp_path / "best_model.pdparams")
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"best_model\.pdparams cannot be read.*save or copy it again"):
        load_checkpoint(m, ckpt)


def test_train_stgcn_main_says_which_epoch_and_where(tmp_path):
    "Issue 11 row 29: the result gave the best epoch's accuracy without saying so, and no checkpoint path."
    root = make_synthetic_fsd(tmp_path / "fsd", n_classes=2, n_per_class=8, T=16, seed=0)
    res = train_stgcn_main(data_root=root, out_dir=tmp_path / "run", preset="quick", progress=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert sorted(res) == ["best_epoch", "checkpoint", "epochs", "nproc", "seconds", "val_accuracy"]
    assert res["best_epoch"] == hist["best_epoch"] and 1 <= res["best_epoch"] <= res["epochs"]
    assert res["checkpoint"] == str(tmp_path / "run" / "best_model.pdparams")
    assert Path(res["checkpoint"]).exists()
    assert res["val_accuracy"] == pytest.approx(hist["best_val_acc"])


# ---------------------------------------------------------------- export
def test_jit_round_trip_hand_model(tmp_path):
    "The export reads C and V from the model: the 21-joint, 3-channel hand model exports the same way."
    paddle.seed(0)
    m = STGCN_framework(num_classes=4, in_channels=3, layout="mediapipe-hand", base_channels=8)
    m.eval()
    export_stgcn(m, tmp_path / "hand", window_size=10)
    loaded = load_exported(tmp_path / "hand")
    x = paddle.randn([2, 3, 10, 21, 1])
    assert max_abs_diff(m, loaded, x) < 1e-4


def test_jit_round_trip_with_nonzero_biases_and_free_batch(tmp_path):
    "Issue 15's bias table (add_table) and FastConv2D traced by paddle.jit.save: any batch size, two persons, biases."
    paddle.seed(0)
    m = STGCN_framework(num_classes=4, base_channels=8)
    for layer in m.sublayers():  # Paddle starts biases at 0, which would hide a wrong table
        if isinstance(layer, paddle.nn.Conv2D) and layer.bias is not None:
            layer.bias.set_value(paddle.randn(layer.bias.shape) * 0.3)
    m.eval()
    export_stgcn(m, tmp_path / "biased", window_size=12, num_person=2)
    loaded = load_exported(tmp_path / "biased")
    for n in (1, 3):
        x = paddle.randn([n, 2, 12, 25, 2])
        assert max_abs_diff(m, loaded, x) < 1e-4


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    "A tiny FSD model exported for 10-frame clips: (model, path prefix)."
    paddle.seed(0)
    m = STGCN_framework(num_classes=3, base_channels=4)
    m.eval()
    prefix = tmp_path_factory.mktemp("export") / "stgcn"
    export_stgcn(m, prefix, window_size=10)
    return m, prefix


def test_exported_model_refuses_another_clip_length(exported):
    "Issue 11 row 6: fed 20 frames where traced for 10, the program returned 2 rows of scores for 1 clip."
    m, prefix = exported
    assert exported_input_shape(prefix) == [-1, 2, 10, 25, 1]
    loaded, predictor = load_exported(prefix), inference_predictor(prefix)
    x = np.random.default_rng(0).normal(size=(1, 2, 20, 25, 1)).astype("float32")
    with pytest.raises(ValueError, match=r"shape \[-1, 2, 10, 25, 1\].*got float32 \[1, 2, 20, 25, 1\].*T=10"):
        loaded(paddle.to_tensor(x))
    with pytest.raises(ValueError, match=r"exported for T=10 frames, not 20"):
        predict(predictor, x)
    ok = x[:, :, :10]
    assert predict(predictor, ok).shape == (1, 3)
    with paddle.no_grad():
        assert loaded(paddle.to_tensor(ok)).shape == [1, 3]


@pytest.mark.parametrize("shape, dtype", [((2, 2, 10, 25, 1), "float64"), ((2, 2, 10, 21, 1), "float32")])
def test_exported_model_names_the_expected_input(exported, shape, dtype):
    "Issue 11 row 20: float64 or 21 joints ended in Paddle's internal messages (the predictor: 'std::exception')."
    _, prefix = exported
    x = np.zeros(shape, dtype)
    want = r"expects float32 input of shape \[-1, 2, 10, 25, 1\].*" + re.escape(f"got {dtype} {list(shape)}")
    with pytest.raises(ValueError, match=want):
        load_exported(prefix)(paddle.to_tensor(x))
    predictor = inference_predictor(prefix)
    if dtype == "float64":  # predict casts numpy arrays to float32, as it always did
        assert predict(predictor, x).shape == (2, 3)
    else:
        with pytest.raises(ValueError, match=r"got float32 \[2, 2, 10, 21, 1\]"):
            predict(predictor, x)


def test_truncated_export_is_named(tmp_path, exported):
    "Issue 11 row 19: a cut .pdiparams gave '(Unavailable) Cannot read tensor desc size', naming no file."
    _, prefix = exported
    for suffix in (".json", ".pdiparams"):
        (tmp_path / ("cut" + suffix)).write_bytes(prefix.with_name(prefix.name + suffix).read_bytes())
    params = tmp_path / "cut.pdiparams"
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    for load in (load_exported, inference_predictor):
        with pytest.raises(ValueError, match=r"cut\.pdiparams .*truncated or damaged; export the model again"):
            load(tmp_path / "cut")


# ---------------------------------------------------------------- import guard (subprocesses)
FAKE_TF = "import sys, types; sys.modules['tensorflow'] = types.ModuleType('tensorflow'); "


def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_import_after_fake_tensorflow_raises_clear_error():
    res = run_python(FAKE_TF + "import sign_notes.stgcn")
    assert res.returncode == 1, res.stderr[-2000:]
    assert "ImportError: sign_notes.stgcn needs PaddlePaddle" in res.stderr
    assert "Restart the kernel" in res.stderr


def test_paddle_then_fake_tensorflow_then_model_imports():
    res = run_python("import paddle; " + FAKE_TF + "import sign_notes.stgcn.model; print('loaded')")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["loaded"]


def test_blocked_tensorflow_is_not_a_loaded_one():
    "sys.modules['tensorflow'] = None blocks the import; the guard must not mistake it for a loaded TensorFlow."
    res = run_python("import sys; sys.modules['tensorflow'] = None; import sign_notes.stgcn; print('loaded')")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == ["loaded"]


def test_import_after_real_tensorflow_raises_clear_error():
    if importlib.util.find_spec("tensorflow") is None:  # find_spec does not import it
        pytest.skip("TensorFlow is not installed: the stand-in module tests above cover the guard")
    res = run_python("import tensorflow; import sign_notes.stgcn")
    assert res.returncode == 1, res.stderr[-2000:]
    assert "ImportError: sign_notes.stgcn needs PaddlePaddle" in res.stderr
    assert "Restart the kernel" in res.stderr
