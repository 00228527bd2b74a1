"""Tests for sign_notes.seti.data, .synth and .tfrecord (issue 14, the data half): the competition's layout and
dtype in synthetic files, clear errors naming the file on bad input, the generator's refusals, the TFRecord round
trip (id, target, pixels within one 8-bit step), stratified files, count_data_items and replica-scaled batches."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sign_notes.core import shared_data
from sign_notes.seti.data import (
    LABELS_NAME,
    SETI_SHAPE,
    cadence_path,
    find_seti_dataset,
    load_cadence,
    read_labels,
    read_sample_submission,
)

pytest.importorskip("setigen")
from sign_notes.seti.synth import get_seti_dataset, make_synthetic_seti, synth_seti_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def real_seti():
    "The two real SETI cadences beside the project, or skip."
    p = shared_data("seti")
    if p is None:
        pytest.skip("../shared/data/seti is absent: the real-cadence checks need it")
    return p


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    "A small synthetic dataset, made once for the module: 16 training cadences (half positive), 4 test ones."
    return make_synthetic_seti(tmp_path_factory.mktemp("seti") / "data", 16, positive_rate=0.5, seed=1, n_test=4)


def fake_dataset(root: Path, labels: str, files: dict) -> Path:
    "A dataset folder with `labels` as train_labels.csv and `files` {id: array} under train/<id[0]>/."
    for i, x in files.items():
        p = cadence_path(root, i)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.save(p, x)
    (root / LABELS_NAME).write_text(labels)
    return root


GOOD = np.zeros(SETI_SHAPE, np.float16)


# --- the layout -------------------------------------------------------------------------------------------------


def test_framework_free_imports():
    code = ("import sys, sign_notes.seti.data, sign_notes.seti.synth; "
            "print(sorted(m for m in ('tensorflow', 'setigen', 'paddle') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split()[-1] == "[]"


def test_synthetic_files_have_the_real_layout(synth_root):
    labels = read_labels(synth_root)
    assert len(labels) == 16 and labels.target.sum() == 8
    for i in labels.id:
        assert len(i) == 15 and all(c in "0123456789abcdef" for c in i)
        p = synth_root / "train" / i[0] / f"{i}.npy"
        assert p == cadence_path(synth_root, i)
        x = np.load(p)
        assert (x.dtype, x.shape) == (np.dtype(np.float16), SETI_SHAPE)
    sub = read_sample_submission(synth_root)
    assert len(sub) == 4 and (sub.target == 0).all()
    assert all((synth_root / "test" / i[0] / f"{i}.npy").is_file() for i in sub.id)


def test_synthetic_matches_real_dtype_and_shape(synth_root, real_seti):
    real = read_labels(real_seti)
    assert real.target.tolist() == [0, 1]
    ours = load_cadence(cadence_path(synth_root, read_labels(synth_root).id[0]))
    for i in real.id:
        x = load_cadence(cadence_path(real_seti, i))
        assert (x.dtype, x.shape) == (ours.dtype, ours.shape)


def test_cadence_path_refuses_bad_ids_and_splits():
    with pytest.raises(ValueError, match="bad cadence id '../x'"):
        cadence_path("r", "../x")
    with pytest.raises(ValueError, match="bad cadence id ''"):
        cadence_path("r", "")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        cadence_path("r", "abc", split="valid")


# --- bad input names the file ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array, what",
    [
        (np.zeros((6, 273, 255), np.float16), r"float16 \(6, 273, 255\)"),
        (np.zeros(SETI_SHAPE, np.float32), r"float32 \(6, 273, 256\)"),
        (np.zeros((3, 273, 256), np.float16), r"float16 \(3, 273, 256\)"),
    ],
)
def test_load_cadence_refuses_wrong_shape_or_dtype(tmp_path, array, what):
    p = tmp_path / "bad.npy"
    np.save(p, array)
    with pytest.raises(ValueError, match=f"{p}.*holds {what}.*float16 \\(6, 273, 256\\)"):
        load_cadence(p)


def test_load_cadence_names_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no cadence file .*nothere.npy"):
        load_cadence(tmp_path / "nothere.npy")
    p = tmp_path / "garbage.npy"
    p.write_bytes(b"not a numpy file")
    with pytest.raises(ValueError, match="garbage.npy is not a readable .npy file"):
        load_cadence(p)


def test_read_labels_names_an_id_without_a_file(tmp_path):
    root = fake_dataset(tmp_path, "id,target\n0aa,0\n1bb,1\n", {"0aa": GOOD})
    with pytest.raises(FileNotFoundError, match=r"1 id\(s\) without a file, e\.g\. '1bb'.*train/1/1bb\.npy"):
        read_labels(root)


@pytest.mark.parametrize("bad", ["2", "-1", "x", "0.5", ""])
def test_read_labels_refuses_labels_other_than_0_or_1(tmp_path, bad):
    root = fake_dataset(tmp_path, f"id,target\n0aa,0\n0bb,{bad}\n", {"0aa": GOOD, "0bb": GOOD})
    with pytest.raises(ValueError, match=r"train_labels\.csv: targets must be 0 or 1; got \{'0bb'"):
        read_labels(root)


def test_read_labels_refuses_wrong_columns_repeats_and_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no train_labels.csv in"):
        read_labels(tmp_path)
    root = fake_dataset(tmp_path, "image_id,label\n0aa,0\n", {"0aa": GOOD})
    with pytest.raises(ValueError, match=r"columns \['image_id', 'label'\]; expected 'id,target'"):
        read_labels(root)
    (root / LABELS_NAME).write_text("id,target\n0aa,0\n0aa,1\n")
    with pytest.raises(ValueError, match=r"repeated ids \['0aa'\]"):
        read_labels(root)


def test_read_labels_keeps_ids_as_text(tmp_path):
    root = fake_dataset(tmp_path, "id,target\n0012,1\n", {"0012": GOOD})  # not the number 12
    assert read_labels(root).id.tolist() == ["0012"]
    assert read_labels(root).target.dtype == np.int64


def test_find_seti_dataset(tmp_path, monkeypatch, synth_root):
    monkeypatch.delenv("SIGN_NOTES_SETI", raising=False)
    assert find_seti_dataset(synth_root) == synth_root
    with pytest.raises(FileNotFoundError, match="is not a SETI dataset folder"):
        find_seti_dataset(tmp_path)
    monkeypatch.setenv("SIGN_NOTES_SETI", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SIGN_NOTES_SETI=.* is not a SETI dataset folder"):
        find_seti_dataset()
    monkeypatch.setenv("SIGN_NOTES_SETI", str(synth_root))
    assert find_seti_dataset() == synth_root


# --- the generator -----------------------------------------------------------------------------------------------


def test_generator_refuses_a_real_dataset(tmp_path, real_seti):
    copy = tmp_path / "real"
    shutil.copytree(real_seti, copy)
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    with pytest.raises(ValueError, match="train_labels.csv, which make_synthetic_seti did not write"):
        make_synthetic_seti(copy, 4)
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before


def test_generator_refuses_unrelated_files_and_remakes_its_own(tmp_path):
    root = tmp_path / "s"
    make_synthetic_seti(root, 4, n_test=1, positive_rate=0.5)
    make_synthetic_seti(root, 6, n_test=2, positive_rate=0.5, seed=3)  # its own folder: made again
    assert len(read_labels(root)) == 6
    assert not list(root.glob(".partial-*"))
    npys = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.npy"))
    assert len(npys) == 8  # the old dataset's files are gone
    (root / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt, which make_synthetic_seti did not write"):
        make_synthetic_seti(root, 4)
    assert (root / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        make_synthetic_seti(tmp_path / "file", 4)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(n=0), "n must be an integer >= 1"),
        (dict(n=4, positive_rate=1.5), r"positive_rate must be in \[0, 1\]"),
        (dict(n=4, snr=(5, 1)), "snr must be a range"),
        (dict(n=4, drift=(0.0, 0.5)), "leaves the band"),
        (dict(n=4, n_test=-1), "n_test must be an integer >= 0"),
    ],
)
def test_generator_refuses_bad_settings(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_seti(tmp_path / "s", **kw)
    assert not (tmp_path / "s").exists()


def test_generator_counts_and_determinism(tmp_path):
    a = make_synthetic_seti(tmp_path / "a", 20, positive_rate=0.1, seed=5, n_test=0)
    b = make_synthetic_seti(tmp_path / "b", 20, positive_rate=0.1, seed=5, n_test=0)
    la, lb = read_labels(a), read_labels(b)
    assert la.target.sum() == 2
    pd.testing.assert_frame_equal(la, lb)
    assert np.array_equal(load_cadence(cadence_path(a, la.id[0])), load_cadence(cadence_path(b, lb.id[0])))
    assert len(read_sample_submission(a)) == 0


def test_synth_seti_main_is_json_ready(tmp_path):
    out = synth_seti_main(tmp_path / "cli", quick=True, seed=2, n=6, n_test=2)
    assert json.loads(json.dumps(out)) == out
    assert (out["n_train"], out["n_test"], out["preset"], out["synthetic"]) == (6, 2, "quick", True)
    assert out["n_positive"] == round(0.3 * 6)


def test_get_seti_dataset_makes_its_preset_once_and_remakes_on_change(tmp_path, monkeypatch):
    import sign_notes.seti.synth as synth

    monkeypatch.delenv("SIGN_NOTES_SETI", raising=False)
    monkeypatch.setitem(synth.SETI_DATA, "quick", dict(n=4, n_test=1, positive_rate=0.5, seed=0))
    root = get_seti_dataset(preset="quick", synthetic_root=tmp_path / "q")
    stamp = (root / LABELS_NAME).stat().st_mtime_ns
    assert get_seti_dataset(preset="quick", synthetic_root=tmp_path / "q") == root
    assert (root / LABELS_NAME).stat().st_mtime_ns == stamp  # found, not made again
    monkeypatch.setitem(synth.SETI_DATA, "quick", dict(n=6, n_test=1, positive_rate=0.5, seed=0, snr=(40.0, 90.0)))
    assert len(read_labels(get_seti_dataset(preset="quick", synthetic_root=tmp_path / "q"))) == 6  # settings changed


def test_get_seti_dataset_prefers_the_real_one(real_seti, tmp_path):
    assert get_seti_dataset(real_seti, synthetic_root=tmp_path / "never") == real_seti
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        get_seti_dataset(preset="huge", synthetic_root=tmp_path / "x")


# --- TFRecords (TensorFlow) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfrec(synth_root, tmp_path_factory):
    pytest.importorskip("tensorflow")
    from sign_notes.seti.config import SETIConfig
    from sign_notes.seti.tfrecord import write_seti_tfrecords

    cfg = SETIConfig.full()  # the source's 273x256 images: no resize, so the pixels can be compared
    out = tmp_path_factory.mktemp("tfrec") / "full"
    return write_seti_tfrecords(synth_root, out, cfg, n_files=4, n_test_files=2), cfg


def test_tfrecord_round_trip(synth_root, tfrec):
    import tensorflow as tf
    from sign_notes.seti.tfrecord import read_labeled_tfrecord

    written, cfg = tfrec
    labels = read_labels(synth_root).set_index("id").target
    seen = 0
    for raw in tf.data.TFRecordDataset(written["train_files"]):
        ex = tf.io.parse_single_example(raw, {"image": tf.io.FixedLenFeature([], tf.string),
                                              "image_id": tf.io.FixedLenFeature([], tf.string)})
        i = ex["image_id"].numpy().decode()
        png, target = read_labeled_tfrecord(raw)
        assert int(target) == labels[i]
        x = load_cadence(cadence_path(synth_root, i)).astype(np.float32)[[0, 2, 4]].transpose(1, 2, 0)
        got = tf.io.decode_png(png, channels=3).numpy().astype(np.float32)
        lo, hi = x.min((0, 1)), x.max((0, 1))
        step = (hi - lo) / 255
        assert np.all(np.abs(lo + got * step - x) <= step)  # within one 8-bit step of the float16 cadence
        seen += 1
    assert seen == len(labels)


def test_tfrecord_test_files_carry_ids_without_targets(synth_root, tfrec):
    import tensorflow as tf
    from sign_notes.seti.tfrecord import get_dataset, read_unlabeled_tfrecord

    written, cfg = tfrec
    ids = [read_unlabeled_tfrecord(r, True)[1].numpy().decode() for r in tf.data.TFRecordDataset(written["test_files"])]
    assert sorted(ids) == sorted(read_sample_submission(synth_root).id)
    raw = next(iter(tf.data.TFRecordDataset(written["test_files"])))
    assert int(read_unlabeled_tfrecord(raw, False)[1]) == 0
    with pytest.raises(tf.errors.InvalidArgumentError):  # no target in a test record
        next(iter(get_dataset(written["test_files"], labeled=True, dim=cfg.DIM, cfg=cfg)))


def test_files_are_stratified_by_target_and_group():
    pytest.importorskip("tensorflow")
    from sign_notes.seti.tfrecord import assign_files

    rng = np.random.default_rng(0)
    ids = ["".join(rng.choice(list("0123456789abcdef"), 15)) for _ in range(3000)]
    labels = pd.DataFrame(dict(id=ids, target=(rng.random(3000) < 0.1).astype(int)))
    files = assign_files(labels, n_files=20, seed=42)
    assert set(files) == set(range(20))
    cells = pd.crosstab([labels.target, labels.id.str[0]], files)  # (target, group) x file
    assert (cells.max(axis=1) - cells.min(axis=1)).max() <= 1
    per_file = pd.Series(labels.target.to_numpy()).groupby(files).sum()
    assert per_file.max() - per_file.min() <= 16  # at most one per (target=1, group) cell
    assert np.array_equal(files, assign_files(labels, n_files=20, seed=42))
    assert not np.array_equal(files, assign_files(labels, n_files=20, seed=43))


def test_count_data_items_reads_the_file_names(tfrec):
    from sign_notes.seti.tfrecord import count_data_items

    assert count_data_items(["gs://b/setibl/train00-2999.tfrec", "train01-3001.tfrec"]) == 6000
    written, _ = tfrec
    names = [Path(f).name for f in written["train_files"]]
    assert all(n.startswith(f"train{k:02d}-") for k, n in enumerate(names))
    assert count_data_items(written["train_files"]) == written["n_train"] == 16
    assert count_data_items(written["test_files"]) == written["n_test"] == 4


def test_writer_reuses_its_files_and_refuses_foreign_ones(synth_root, tfrec, tmp_path):
    from sign_notes.seti.tfrecord import write_seti_tfrecords

    written, cfg = tfrec
    stamps = {f: os.stat(f).st_mtime_ns for f in written["train_files"]}
    again = write_seti_tfrecords(synth_root, written["out_dir"], cfg, n_files=4, n_test_files=2)
    assert again == written and {f: os.stat(f).st_mtime_ns for f in written["train_files"]} == stamps
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="keep.txt, which write_seti_tfrecords did not write"):
        write_seti_tfrecords(synth_root, tmp_path / "out", cfg)


def test_batch_scales_with_the_replicas(synth_root, tmp_path):
    pytest.importorskip("tensorflow")
    script = textwrap.dedent(f"""
        from sign_notes.device import split_cpu
        assert split_cpu(2) == 2
        import tensorflow as tf
        from sign_notes.seti.config import SETIConfig
        from sign_notes.seti.tfrecord import get_dataset, write_seti_tfrecords
        cfg = SETIConfig.quick()
        files = write_seti_tfrecords({str(synth_root)!r}, {str(tmp_path / "tf")!r}, cfg)["train_files"]
        print(next(iter(get_dataset(files, batch_size=3, dim=cfg.DIM, cfg=cfg)))[0].shape[0])
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            print(next(iter(get_dataset(files, batch_size=3, dim=cfg.DIM, cfg=cfg)))[0].shape[0])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["3", "6"]
