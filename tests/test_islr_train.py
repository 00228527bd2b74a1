"""Tests for sign_notes.islr.train and .pipeline (issue 11): conversions keyed on the dataset, a damaged file named,
repeatable quick runs, what `train_islr_main` says while it works, the AWP notice, run names after the precision
really used, and training on synthetic data said and recorded. Tiny datasets, 2 epochs of 1 step."""

import contextlib
import io
import shutil

import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from sign_notes.data import read_train_csv  # noqa: E402
from sign_notes.device import mixed_precision_policy  # noqa: E402
from sign_notes.synth import SYNTHETIC_MARKER, TOUR_DATA, make_synthetic_islr  # noqa: E402
from sign_notes.islr.config import CFG, resolve_cfg  # noqa: E402
from sign_notes.islr.tfrecord import count_data_items, serialize_example, write_tfrecord  # noqa: E402
from sign_notes.islr.train import SwitchNotice, prepare_tfrecords, switch_epochs, train_fold  # noqa: E402
import sign_notes.islr.pipeline as pipeline  # noqa: E402

TINY = dict(n_signs=3, n_per_sign=4, n_participants=2, seed=0)  # 12 sequences of 2 signers
# 2 epochs of 1 step, late dropout from the second; AWP off (it doubles the graph to build; its notice: below)
RUN = dict(epoch=2, awp=False, dropout_start_epoch=1, batch_per_replica=4, max_len=16, dim=32, shuffle=16)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    "Two quick runs on the same tiny data: `a` makes it (no data_dir), `b` is given it; their outputs printed."
    d = tmp_path_factory.mktemp("islr_runs")
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(TOUR_DATA, "small", TINY)  # what train_islr_main makes without data_dir
        for name, data_dir in (("a", None), ("b", d / "a" / "data")):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                res = pipeline.train_islr_main(
                    quick=True, data_dir=data_dir, out_dir=d / name, export=False, verbose=2, **RUN
                )
            runs[name] = (res, out.getvalue(), d / name)
    return runs


def logs(out_dir):
    (csv,) = out_dir.glob("*-fold0-logs.csv")
    return pd.read_csv(csv)


def test_quick_runs_repeat_their_losses(two_runs):
    (_, _, a), (_, _, b) = two_runs["a"], two_runs["b"]
    la, lb = logs(a), logs(b)
    assert len(la) == 2
    assert la.loss[0] == lb.loss[0]  # the first epoch's loss, to the last bit
    assert la.loss.tolist() == lb.loss.tolist() and la.val_loss.tolist() == lb.val_loss.tolist()


def test_train_islr_main_says_what_it_does(two_runs):
    res, text, _ = two_runs["a"]
    steps = ["SYNTHETIC", "TFRecords by signer", "training fold(s) [0]", "---------fold0", "training 2 epoch(s)"]
    where = [text.find(s) for s in steps]
    assert -1 not in where and where == sorted(where), text  # in this order, each before the epochs' lines
    assert where[-1] < text.find("loss:"), text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        pipeline._islr_data(two_runs["a"][2] / "data", two_runs["a"][2], say=lambda *a: None)
    assert out.getvalue() == ""  # verbose=0: silent


def test_awp_and_late_dropout_switch_is_announced(two_runs):
    text = two_runs["a"][1]
    assert text.count("late dropout on from here") == 1
    assert text.find("epoch 2: late dropout on from here") > text.find("loss:")  # after epoch 1's line
    assert switch_epochs(CFG.quick()) == {8: ["AWP", "late dropout"]}
    assert switch_epochs(CFG.quick(fgm=True, dropout_start_epoch=3)) == {8: ["FGM"], 3: ["late dropout"]}
    assert switch_epochs(CFG.quick(awp=False, dropout_start_epoch=0)) == {}  # on from the start: nothing switches
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        notice = SwitchNotice(CFG.quick(resume=5))
        for epoch in range(7):  # a resumed run: fit counts from 0 again
            notice.on_epoch_begin(epoch)
    assert out.getvalue().startswith("epoch 9: AWP and late dropout") and out.getvalue().count("\n") == 1


def test_runs_are_named_after_the_precision_used(two_runs, monkeypatch):
    monkeypatch.setenv("SIGN_NOTES_DEVICE", "CPU")
    assert CFG.quick().comment == "islr-fp32-64-1-seed42"  # fp16 asked for, but a CPU runs in float32
    monkeypatch.setenv("SIGN_NOTES_DEVICE", "GPU")
    assert CFG.quick().comment == "islr-fp16-64-1-seed42" and CFG.quick(fp16=False).comment.startswith("islr-fp32")
    assert resolve_cfg(CFG.quick(), policy="float32").comment == "islr-fp32-64-1-seed42"  # what train_fold uses
    monkeypatch.delenv("SIGN_NOTES_DEVICE")
    tag = "fp32" if mixed_precision_policy() == "float32" else "fp16"
    assert {p.name.split("-")[1] for p in two_runs["a"][2].glob("islr-*")} == {tag}


def test_synthetic_training_is_said_and_recorded(two_runs, tmp_path):
    (res_a, text_a, a), (res_b, text_b, _) = two_runs["a"], two_runs["b"]
    assert res_a["synthetic"] is True and "training on a SYNTHETIC dataset" in text_a
    assert res_b["synthetic"] is True and "a SYNTHETIC dataset, made by sign_notes.synth" in text_b
    real = shutil.copytree(a / "data", tmp_path / "real", ignore=shutil.ignore_patterns(SYNTHETIC_MARKER))
    assert pipeline._islr_data(real, tmp_path, say=lambda *a: None) == (real, False)


def test_prepare_tfrecords_reconverts_another_dataset(tmp_path):
    root = tmp_path / "data"
    make_synthetic_islr(root, n_signs=2, n_per_sign=3, n_participants=2, seed=1, progress=False)
    first = prepare_tfrecords(root, tmp_path / "tfr", n_folds=2)
    assert prepare_tfrecords(root, tmp_path / "tfr", n_folds=2) == first  # the same data: reused
    shutil.rmtree(root)
    make_synthetic_islr(root, n_signs=2, n_per_sign=4, n_participants=2, seed=2, progress=False)  # same path
    second = prepare_tfrecords(root, tmp_path / "tfr", n_folds=2)
    ids = set(read_train_csv(root).sequence_id)
    assert set(pd.read_csv(tmp_path / "tfr" / "folds.csv").sequence_id) == ids  # the second dataset's sequences
    assert count_data_items(second) == len(ids) == 8
    assert sorted(p.name for p in (tmp_path / "tfr").glob("fold*.tfrecords")) == sorted(f.name for f in second)
    third = prepare_tfrecords(root, tmp_path / "tfr", n_folds=2, shard_size=1)  # other settings: converted again
    assert len(third) == 8


def small_model(cfg, *args):
    "A stand-in for the seed's model, quick to build: the fit and its DataLossError are what is tested here."
    import keras

    inp = keras.Input((cfg.max_len, 708))
    model = keras.Model(inp, keras.layers.Dense(cfg.num_classes)(keras.layers.GlobalAveragePooling1D()(inp)))
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def test_damaged_file_is_named_when_training_meets_it(tmp_path, monkeypatch):
    "No conversion.json to compare with: TensorFlow's DataLossError comes during the fit, and the file is named."
    monkeypatch.setattr("sign_notes.islr.train._fold_model", small_model)
    x = make_synthetic_islr(tmp_path / "d", n_signs=2, n_per_sign=2, n_participants=2, seed=0, progress=False)
    from sign_notes.data import load_relevant_data_subset

    recs = [serialize_example(load_relevant_data_subset(x / p), k % 2) for k, p in enumerate(read_train_csv(x).path)]
    train, valid = tmp_path / "fold1-0-4.tfrecords", tmp_path / "fold0-0-4.tfrecords"
    write_tfrecord(train, recs)
    write_tfrecord(valid, recs)
    train.write_bytes(train.read_bytes()[:-300])  # truncated
    cfg = CFG.quick(epoch=1, num_classes=2, batch_per_replica=2, max_len=16, dim=32, save_output=False, verbose=0)
    with pytest.raises(ValueError, match=r"fold1-0-4\.tfrecords: a damaged TFRecord file"):
        train_fold(cfg, 0, [train], [valid], summary=False)
