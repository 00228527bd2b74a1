"""ASL Fingerspelling data (issue 13, items 1-4): file schema, bad files, the synthetic generator's folder rules, and
the preprocessing's edge cases. Framework-free except the last test, which skips without TensorFlow."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sign_notes.aslfr.data import (ASLFR_COLUMNS, CHAR_MAP_NAME, TRAIN_CSV_COLUMNS, check_aslfr_parquet,
                                   decode_phrase, default_char_map, encode_phrase, find_aslfr_dataset,
                                   load_file_sequences, load_sequence, load_sequence_columns, read_aslfr_train_csv,
                                   read_char_map, write_aslfr_parquet)
from sign_notes.aslfr.preprocess import (SELECTED_COLUMNS, columns_for, dominant_hand, kept_frames, n_features,
                                         preprocess_np, resize_frames)
from sign_notes.aslfr.synth import (ASLFR_DATA, SYNTHETIC_MARKER, get_aslfr_dataset, get_phrase_type,
                                    make_synthetic_aslfr, synth_fingerspelling_main)

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_participants=3, n_phrases=9, per_file=4, min_len=5, max_len=12)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_synthetic_aslfr(tmp_path_factory.mktemp("aslfr") / "ds", seed=3, **TINY)


# --- the file schema --------------------------------------------------------------------------------------------


def test_parquet_schema_columns_order_dtypes(tiny):
    import pyarrow.parquet as pq

    train = read_aslfr_train_csv(tiny)
    for path in train.path.unique():
        schema = pq.read_schema(tiny / path)
        assert schema.names == ["sequence_id"] + ASLFR_COLUMNS
        types = {n: str(t) for n, t in zip(schema.names, schema.types)}
        assert types["sequence_id"] == "int64" and types["frame"] == "int16"
        assert {types[c] for c in ASLFR_COLUMNS[1:]} == {"float"}  # float32
        df = pd.read_parquet(tiny / path)
        assert df.index.name == "sequence_id" and list(df.columns) == ASLFR_COLUMNS
        assert len(df.columns) == 1630
        for sid, g in df.groupby(level=0):  # frames numbered 0.. inside each sequence
            assert g.frame.tolist() == list(range(len(g)))


def test_column_names_spell_the_islr_row_order():
    assert ASLFR_COLUMNS[:2] == ["frame", "x_face_0"]
    assert ASLFR_COLUMNS[1 + 466 : 1 + 468] == ["x_face_466", "x_face_467"]
    assert ASLFR_COLUMNS[1 + 489] == "x_pose_0" and ASLFR_COLUMNS[1 + 522] == "x_right_hand_0"
    assert ASLFR_COLUMNS[1 + 2 * 543] == "z_face_0" and ASLFR_COLUMNS[-1] == "z_right_hand_20"


def test_train_csv_layout(tiny):
    train = pd.read_csv(tiny / "train.csv")
    assert list(train.columns) == TRAIN_CSV_COLUMNS
    assert len(train) == TINY["n_phrases"] and train.participant_id.nunique() == TINY["n_participants"]
    assert (train.path == "train_landmarks/" + train.file_id.astype(str) + ".parquet").all()
    assert train.file_id.nunique() == 3  # 9 sequences, 4 a file
    assert train.groupby("participant_id").phrase.apply(lambda p: p.map(get_phrase_type).nunique()).eq(3).all()
    for r in train.itertuples():
        assert 5 <= len(r.phrase) <= 12
        encode_phrase(r.phrase, read_char_map(tiny))
        assert load_sequence(tiny / r.path, r.sequence_id).shape[1:] == (543, 3)


def test_load_sequence_matches_what_was_written(tmp_path):
    rng = np.random.default_rng(0)
    seqs = {5: rng.random((3, 543, 3), dtype=np.float32), 2: rng.random((1, 543, 3), dtype=np.float32)}
    seqs[5][1, 522:543] = np.nan
    f = write_aslfr_parquet(seqs, tmp_path / "1.parquet")
    for sid, frames in seqs.items():
        np.testing.assert_array_equal(load_sequence(f, sid), frames)
    got = load_file_sequences(f, ["z_pose_3", "x_right_hand_0"])
    assert sorted(got) == [2, 5]
    np.testing.assert_array_equal(got[5], seqs[5][:, [492, 522], [2, 0]])


def test_left_handed_signers_spell_in_the_left_hand_columns(tiny):
    marker = json.loads((tiny / SYNTHETIC_MARKER).read_text())
    train = read_aslfr_train_csv(tiny)
    seen = set()
    for r in train.itertuples():
        x = load_sequence_columns(tiny / r.path, r.sequence_id, SELECTED_COLUMNS)
        left = marker["left_handed"][str(r.participant_id)]
        assert dominant_hand(x) == ("left" if left else "right")
        seen.add(left)
    assert seen == {True, False}


def test_same_seed_same_dataset(tmp_path, tiny):
    again = make_synthetic_aslfr(tmp_path / "again", seed=3, **TINY)
    a, b = read_aslfr_train_csv(tiny), read_aslfr_train_csv(again)
    pd.testing.assert_frame_equal(a, b)
    r = a.iloc[0]
    np.testing.assert_array_equal(load_sequence(tiny / r.path, r.sequence_id), load_sequence(again / r.path,
                                                                                                 r.sequence_id))


# --- the character map -----------------------------------------------------------------------------------------


def test_generator_writes_the_competitions_char_map(tiny):
    # (that `default_char_map` equals the real file in ../shared/data is 14a's hidden test)
    assert read_char_map(tiny) == default_char_map()


def test_encode_refuses_characters_outside_the_map():
    with pytest.raises(ValueError, match=r"\['A', '€'\]"):
        encode_phrase("Abc€", default_char_map())
    with pytest.raises(ValueError, match="outside the character map"):
        decode_phrase([3, 59], default_char_map())
    assert decode_phrase(encode_phrase("+1 (555) a.b/c", default_char_map()), default_char_map()) == "+1 (555) a.b/c"


@pytest.mark.parametrize("content, match", [("{", "not valid JSON"), ("[1]", "non-empty JSON object"),
                                            ('{"ab": 0}', "single characters"), ('{"a": 0, "b": 2}', "0..1")])
def test_bad_char_map(tmp_path, content, match):
    (tmp_path / CHAR_MAP_NAME).write_text(content)
    with pytest.raises(ValueError, match=match):
        read_char_map(tmp_path)
    with pytest.raises(FileNotFoundError, match="no character map"):
        read_char_map(tmp_path / "nowhere")


# --- bad landmark files and train.csv --------------------------------------------------------------------------


@pytest.fixture
def one_file(tmp_path) -> Path:
    return write_aslfr_parquet({7: np.zeros((2, 543, 3), np.float32)}, tmp_path / "7.parquet")


def test_missing_and_extra_columns_are_named(one_file, tmp_path):
    df = pd.read_parquet(one_file)
    df.drop(columns=["y_pose_3"]).to_parquet(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match=r"missing.parquet.*missing column\(s\) \['y_pose_3'\]"):
        load_sequence(tmp_path / "missing.parquet", 7)
    df.assign(w_hand_0=1.0).to_parquet(tmp_path / "extra.parquet")
    with pytest.raises(ValueError, match=r"extra.parquet.*extra column\(s\) \['w_hand_0'\]"):
        check_aslfr_parquet(tmp_path / "extra.parquet")


def test_unknown_sequence_and_bad_files(one_file, tmp_path):
    with pytest.raises(ValueError, match=r"sequence_id 8 is not in .*7.parquet"):
        load_sequence(one_file, 8)
    with pytest.raises(ValueError, match="not coordinate columns"):
        load_sequence_columns(one_file, 7, ["frame"])
    with pytest.raises(FileNotFoundError, match="no landmark file"):
        load_sequence(tmp_path / "none.parquet", 7)
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="junk.parquet is not a readable parquet"):
        load_sequence(tmp_path / "junk.parquet", 7)
    with pytest.raises(ValueError, match=r"shape \[T, 543, 3\]"):
        write_aslfr_parquet({1: np.zeros((2, 542, 3))}, tmp_path / "x.parquet")


def _csv(tmp_path, rows, columns=TRAIN_CSV_COLUMNS) -> Path:
    pd.DataFrame(rows, columns=columns).to_csv(tmp_path / "train.csv", index=False)
    return tmp_path


def test_bad_train_csv(tmp_path):
    ok = ("train_landmarks/5.parquet", 5, 1, 10, "abc")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['phrase'\]"):
        read_aslfr_train_csv(_csv(tmp_path, [ok[:4]], TRAIN_CSV_COLUMNS[:4]))
    with pytest.raises(ValueError, match="file_id 6"):
        read_aslfr_train_csv(_csv(tmp_path, [ok, ("train_landmarks/5.parquet", 6, 2, 10, "x")]))
    with pytest.raises(ValueError, match="sequence_id 1 is listed more than once"):
        read_aslfr_train_csv(_csv(tmp_path, [ok, ok]))
    with pytest.raises(FileNotFoundError, match="no train.csv"):
        read_aslfr_train_csv(tmp_path / "elsewhere")
    df = read_aslfr_train_csv(_csv(tmp_path, [ok, ("train_landmarks/5.parquet", 5, 3, 10, "nan")]))
    assert df.phrase.tolist() == ["abc", "nan"]  # a phrase that reads like a missing value stays a phrase
    with pytest.raises(ValueError, match=r"train.csv, row 1: .*\['B'\] outside the character map"):
        read_aslfr_train_csv(_csv(tmp_path, [ok, ("train_landmarks/5.parquet", 5, 3, 10, "aBc")]), default_char_map())


def test_get_aslfr_dataset_presets(monkeypatch):
    monkeypatch.delenv("SIGN_NOTES_ASLFR", raising=False)
    with pytest.raises(FileNotFoundError, match="full preset trains on the real"):
        get_aslfr_dataset(preset="full")
    with pytest.raises(ValueError, match="unknown preset 'tiny'"):
        get_aslfr_dataset(preset="tiny")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['n_signs'\]"):
        get_aslfr_dataset(preset="quick", n_signs=3)
    assert set(ASLFR_DATA) == {"quick", "small"}


def test_find_aslfr_dataset(tmp_path, tiny, monkeypatch):
    monkeypatch.delenv("SIGN_NOTES_ASLFR", raising=False)
    assert find_aslfr_dataset(tiny) == tiny
    with pytest.raises(FileNotFoundError, match="not an ASLFR dataset"):
        find_aslfr_dataset(tmp_path)
    monkeypatch.setenv("SIGN_NOTES_ASLFR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SIGN_NOTES_ASLFR"):
        find_aslfr_dataset()


# --- the generator's folder rules -----------------------------------------------------------------------------


def test_generator_refuses_foreign_files_and_real_datasets(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="mine.txt.*did not write"):
        make_synthetic_aslfr(notes, **TINY)
    real = tmp_path / "real"  # a dataset without our synthetic.json: none of it is ours
    real.mkdir()
    (real / "train.csv").write_text("path,file_id,sequence_id,participant_id,phrase\n")
    (real / CHAR_MAP_NAME).write_text(json.dumps(default_char_map()))
    with pytest.raises(ValueError, match="refusing"):
        synth_fingerspelling_main(real, quick=True)
    assert (notes / "mine.txt").read_text() == "keep me" and sorted(p.name for p in notes.iterdir()) == ["mine.txt"]
    with pytest.raises(ValueError, match="is a file"):
        make_synthetic_aslfr(notes / "mine.txt", **TINY)


def test_generator_remakes_its_own_dataset(tmp_path):
    root = make_synthetic_aslfr(tmp_path / "ds", seed=1, **TINY)
    first = set(read_aslfr_train_csv(root).path)
    out = synth_fingerspelling_main(root, quick=True, seed=2, **TINY)
    assert json.loads(json.dumps(out)) == out and out["n_sequences"] == TINY["n_phrases"]
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    now = set(read_aslfr_train_csv(root).path)
    assert files == now | {"train.csv", CHAR_MAP_NAME, SYNTHETIC_MARKER}  # the old files gone, no partial folder
    assert not first & now


BAD_SETTINGS = [(dict(n_phrases=0), "n_phrases"), (dict(min_len=9, max_len=4), "min_len"),
                (dict(hold_frames=(5, 2)), "hold_frames"), (dict(lost_rate=1.0), "lost_rate")]


@pytest.mark.parametrize("kwargs, match", BAD_SETTINGS)
def test_generator_refuses_bad_settings(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_aslfr(tmp_path / "ds", **{**TINY, **kwargs})
    assert not (tmp_path / "ds").exists()


# --- preprocessing edge cases ----------------------------------------------------------------------------------

L = [j for j, c in enumerate(SELECTED_COLUMNS) if "_left_" in c]
R = [j for j, c in enumerate(SELECTED_COLUMNS) if "_right_" in c]


def _clip(left_frames, right_frames, n, seed=0) -> np.ndarray:
    x = np.full((n, 126), np.nan, np.float32)
    rng = np.random.default_rng(seed)
    x[np.ix_(left_frames, L)] = rng.random((len(left_frames), 63))
    x[np.ix_(right_frames, R)] = rng.random((len(right_frames), 63))
    return x


def test_dominant_hand_and_kept_frames():
    x = _clip([0, 1, 4, 5], [1, 2], 6)
    assert dominant_hand(x) == "left" and kept_frames(x).tolist() == [0, 1, 4, 5]
    tie = _clip([0, 3], [1, 2], 4)
    assert dominant_hand(tie) == "right" and kept_frames(tie).tolist() == [1, 2]
    partial = _clip([], [0], 3)
    partial[2, R[5]] = 0.5  # one coordinate found: the hand counts as present in that frame
    assert kept_frames(partial).tolist() == [0, 2]


def test_empty_and_handless_clips_give_zeros():
    for x in (np.zeros((0, 126), np.float32), np.full((4, 126), np.nan, np.float32)):
        out = preprocess_np(x, max_len=16)
        assert out.shape == (16, 63) and not out.any()
    assert dominant_hand(np.zeros((0, 126))) == "right" and kept_frames(np.zeros((0, 126))).size == 0


def test_left_hand_is_mirrored_to_a_right_hand():
    right = _clip([], [0, 1, 2, 3], 4, seed=5)
    left = np.full_like(right, np.nan)
    left[:, L] = right[:, R]
    xs = [SELECTED_COLUMNS.index(f"x_left_hand_{i}") for i in range(21)]
    left[:, xs] = 1 - left[:, xs]  # the mirror image in the image
    np.testing.assert_allclose(preprocess_np(left, 8), preprocess_np(right, 8), atol=1e-5)


def test_resize_is_linear_and_keeps_the_ends():
    ramp = np.arange(5, dtype=np.float32)[:, None] * [1, 10]
    np.testing.assert_allclose(resize_frames(ramp, 9)[:, 0], np.arange(9) / 2, atol=1e-6)
    np.testing.assert_array_equal(resize_frames(ramp, 5), ramp)
    np.testing.assert_array_equal(resize_frames(ramp[3:4], 3), np.repeat(ramp[3:4], 3, 0))
    np.testing.assert_allclose(resize_frames(ramp, 2), ramp[[0, 4]])
    assert resize_frames(ramp, 1).tolist() == [[0, 0]]


def test_preprocess_normalises_and_never_leaves_nan():
    x = _clip([0], [0, 1, 2, 3, 4, 5], 6, seed=2)
    out = preprocess_np(x, max_len=6)
    assert np.isfinite(out).all() and out.dtype == np.float32
    pts = out.reshape(6, 21, 3)
    np.testing.assert_allclose(pts.mean((0, 1)), 0, atol=1e-5)  # centred: all frames kept, none resampled
    np.testing.assert_allclose(np.sqrt((pts[..., :2] ** 2).sum(-1).mean()), 1, atol=1e-5)  # unit spread in x, y


def test_preprocess_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\[n_frames, 126\]"):
        preprocess_np(np.zeros((3, 125)))
    with pytest.raises(ValueError, match="max_len"):
        preprocess_np(np.zeros((3, 126)), max_len=0)
    with pytest.raises(ValueError, match="unknown variant"):
        columns_for("lips")
    with pytest.raises(ValueError, match="unknown variant 'lips'"):
        preprocess_np(np.zeros((3, 126)), variant="lips")
    assert preprocess_np(np.zeros((3, 246)), variant="hands_lips").shape == (128, n_features("hands_lips"))


def test_data_modules_import_no_framework():
    code = ("import sys, sign_notes.aslfr.data, sign_notes.aslfr.synth, sign_notes.aslfr.preprocess; "
            "print([m for m in ('tensorflow', 'keras', 'paddle') if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_two_processes_asking_for_the_same_dataset_both_get_it(tmp_path):
    code = ("from sign_notes.aslfr.synth import get_aslfr_dataset; "
            "print(get_aslfr_dataset(preset='quick', n_phrases=12, n_participants=2))")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in outs]
    assert {o.strip() for o, _ in outs} == {"data/aslfr_quick"}
    assert not [p for p in (tmp_path / "data/aslfr_quick").iterdir() if p.name.startswith(".partial")]
    assert len(read_aslfr_train_csv(tmp_path / "data/aslfr_quick")) == 12
    marker = tmp_path / "data/aslfr_quick" / SYNTHETIC_MARKER  # made by an older generator: made again
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "generator": 1}))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(marker.read_text())["generator"] > 1, r.stderr[-1500:]
