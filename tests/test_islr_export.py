"""ISLR TFLite submission (issue 7) edge cases: Flex ops refused, bad arguments, predict_file's errors and sign names,
and the exported length of a trained model; bad input from issue 11: infinite and absurd coordinates, truncated
files, zero frames, corrupt parquet files. The signature, the agreement with Keras and the ensemble mean are
chapter 11's."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")

from sign_notes.islr.model import get_model  # noqa: E402
from sign_notes.islr.export import (  # noqa: E402
    convert_tflite,
    export_tflite,
    keras_reference,
    predict_file,
    predict_frames,
    tflite_runner,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    "One 10-class model and its file, with a sign map beside it."
    d = tmp_path_factory.mktemp("islr_export")
    m1 = get_model(max_len=32, dim=32, num_classes=10)
    single = export_tflite(m1, d / "model.tflite")
    (d / "sign_to_prediction_index_map.json").write_text(json.dumps({f"sign{i}": i for i in range(10)}))
    return dict(dir=d, m1=m1, single=single)


def _frames(T, seed=0):
    x = np.random.default_rng(seed).uniform(0.2, 0.8, (T, 543, 3)).astype("float32")
    x[:, 468:489] = np.nan
    return x


def test_conversion_refuses_ops_outside_the_builtins():
    "export_tflite's converter allows TFLite builtins only: an op needing Flex fails the conversion, not the scoring."

    class NeedsFlex(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2, 2], tf.float32, name="inputs")])
        def __call__(self, x):
            return {"outputs": tf.linalg.det(x)}

    with pytest.raises(Exception, match="flex op"):
        convert_tflite(NeedsFlex())


def test_export_refuses_bad_arguments(exported, tmp_path):
    with pytest.raises(ValueError, match=".tflite"):
        export_tflite(exported["m1"], tmp_path / "x.bin")
    with pytest.raises(ValueError, match="same number of classes"):
        export_tflite([exported["m1"], get_model(max_len=None, dim=32, num_classes=3)], tmp_path / "x.tflite")


def test_predict_file_names_signs_from_the_map_beside_the_model(exported, tmp_path):
    from sign_notes.data import write_landmark_parquet

    pq = write_landmark_parquet(_frames(12), tmp_path / "seq.parquet")
    top = predict_file(pq, exported["single"], k=3)
    assert len(top) == 3 and all(s.startswith("sign") for s, _ in top)
    assert all(a[1] >= b[1] for a, b in zip(top, top[1:])) and 0 < sum(p for _, p in top) <= 1 + 1e-6


def test_predict_bad_input(exported, tmp_path):
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"frame": [0], "x": [0.1], "y": [0.2]}).to_parquet(bad)
    with pytest.raises(ValueError, match="missing column"):
        predict_file(bad, exported["single"])
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ValueError, match=re.escape(str(junk))):
        predict_file(junk, exported["single"])
    with pytest.raises(FileNotFoundError, match="no parquet file"):
        predict_file(tmp_path / "none.parquet", exported["single"])
    with pytest.raises(FileNotFoundError, match="no TFLite file"):
        predict_frames(_frames(3), tmp_path / "none.tflite")
    with pytest.raises(ValueError, match="all-NaN"):
        predict_frames(np.full((3, 543, 3), np.nan, "float32"), exported["single"])
    with pytest.raises(ValueError, match="543"):
        predict_frames(np.zeros((3, 500, 3), "float32"), exported["single"])
    with pytest.raises(ValueError, match="10 outputs"):
        predict_frames(_frames(3), exported["single"], sign_map={"a": 0})
    junk = tmp_path / "junk.tflite"
    junk.write_text("not a model")
    with pytest.raises(ValueError, match=f"{str(junk)!r} is not a TFLite model"):
        predict_frames(_frames(3), junk)
    with pytest.raises(ValueError, match="is not a TFLite model"):
        tflite_runner(b"not a model")


def test_train_islr_main_exports_at_the_training_length(tmp_path):
    "The exported file must keep the cfg.max_len frames the model was trained on, not the seed's 384."
    import keras
    from sign_notes.synth import make_synthetic_islr
    from sign_notes.islr.pipeline import train_islr_main

    data = make_synthetic_islr(tmp_path / "data", n_signs=3, n_per_sign=6, n_participants=2, seed=0, progress=False)
    res = train_islr_main(
        quick=True, data_dir=data, out_dir=tmp_path / "run", epoch=1, dim=32, max_len=16, awp=False, verbose=0
    )
    assert res["max_len"] == 16
    model = keras.models.load_model(res["model_path"])
    x = _frames(40, seed=3)
    out = tflite_runner(res["tflite_path"])(inputs=x)["outputs"]
    np.testing.assert_allclose(out, keras_reference(model, x, max_len=16), atol=1e-3)
    assert np.abs(out - keras_reference(model, x, max_len=384)).max() > 1e-4


# ---------------------------------------------------------------------------------------------------------------
# Issue 11: bad input that crashed the interpreter or changed the answer without a word
# ---------------------------------------------------------------------------------------------------------------
def test_inf_is_missing_like_nan_in_preprocess_and_in_the_file(exported):
    "Row 5: one inf made the seed's std inf, zeroed the whole x channel and changed the file's top-1."
    from sign_notes.islr.features import Preprocess

    x = _frames(12)
    with_inf, with_nan = x.copy(), x.copy()
    with_inf[3, 530, 0], with_nan[3, 530, 0] = np.inf, np.nan  # one x of a right-hand point
    np.testing.assert_array_equal(Preprocess()(with_inf).numpy(), Preprocess()(with_nan).numpy())
    run = tflite_runner(exported["single"])
    np.testing.assert_allclose(run(inputs=with_inf)["outputs"], run(inputs=with_nan)["outputs"], atol=1e-6)
    with_inf[:, 530, 1] = -np.inf  # a whole y column too: still missing, not a zeroed channel
    with_nan[:, 530, 1] = np.nan
    np.testing.assert_allclose(run(inputs=with_inf)["outputs"], run(inputs=with_nan)["outputs"], atol=1e-6)
    with pytest.raises(ValueError, match="all-NaN.*no finite value"):  # only infinite values: nothing to read
        Preprocess()(np.full((3, 543, 3), np.inf, "float32"))


def test_predict_frames_refuses_absurd_coordinates(exported):
    "Row 5: a coordinate no MediaPipe output has (1e6, inf) is refused, naming its frame, landmark and value."
    x = _frames(8)
    x[5, 530, 1] = 1e6
    with pytest.raises(ValueError, match=r"frame 5, right_hand landmark 8 \(row 530\): y = 1e\+06"):
        predict_frames(x, exported["single"])
    x[5, 530, 1] = -np.inf
    with pytest.raises(ValueError, match=r"frame 5, .* y = -inf"):
        predict_frames(x, exported["single"])
    ok = _frames(8)
    ok[:, 500] = 1e6  # a pose point: the model does not read it
    ok[:, 0] = [-0.9, 1.9, 0.3]  # off the image, as MediaPipe's coordinates can be
    assert len(predict_frames(ok, exported["single"], k=2)) == 2


# A child process for the calls that crashed the interpreter (segfault): a crash there fails these tests and
# leaves pytest running. It prints one JSON line per step, so the last line says how far it got.
_CRASH_PROBE = """
import json, sys
import numpy as np
from sign_notes.islr.export import predict_file, tflite_runner

model, pq, cuts = sys.argv[1], sys.argv[2], sys.argv[3:]
for cut in cuts:
    for name, call in [("runner", lambda: tflite_runner(cut)), ("predict_file", lambda: predict_file(pq, cut))]:
        try:
            call()
            out = "no error"
        except ValueError as e:
            out = str(e)
        print(json.dumps({"step": f"{name} {cut}", "out": out}), flush=True)
zero = tflite_runner(model)(inputs=np.zeros((0, 543, 3), np.float32))["outputs"]
print(json.dumps({"step": "zero frames", "out": zero.tolist()}), flush=True)
"""


@pytest.fixture(scope="module")
def crash_probe(exported):
    from sign_notes.data import write_landmark_parquet

    d, content = exported["dir"], exported["single"].read_bytes()
    pq = write_landmark_parquet(_frames(6), d / "probe.parquet")
    cuts = []
    for n in (len(content) - 1, len(content) // 2, 100):  # cut at the end, in the middle, near the start
        cuts.append(d / f"cut{n}.tflite")
        cuts[-1].write_bytes(content[:n])
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_PROBE, str(exported["single"]), str(pq), *map(str, cuts)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).parent.parent,
    )
    steps = {r["step"]: r["out"] for r in map(json.loads, [ln for ln in proc.stdout.splitlines() if ln[:1] == "{"])}
    return dict(rc=proc.returncode, stderr=proc.stderr[-1500:], steps=steps, cuts=cuts)


def _probe_step(probe, step):
    "The output of one step of the child process; fails with its exit code and stderr when it died before."
    assert step in probe["steps"], f"the probe died before {step!r} (rc {probe['rc']}): {probe['stderr']}"
    return probe["steps"][step]


def test_truncated_tflite_is_refused_naming_the_file(crash_probe):
    "Row 12: a truncated .tflite segfaulted tflite_runner and `sign-notes predict`; now a ValueError naming it."
    for cut in crash_probe["cuts"]:
        for name in ("runner", "predict_file"):
            out = _probe_step(crash_probe, f"{name} {cut}")
            assert repr(str(cut)) in out and "damaged TFLite model" in out, out


def test_exported_file_answers_zero_frames_with_zero_logits(crash_probe, exported, tmp_path):
    "Row 13: the raw signature segfaulted on zero frames; the graph now answers 0 logits, predict_frames refuses."
    assert _probe_step(crash_probe, "zero frames") == [0.0] * 10
    from sign_notes.islr.export import TFLiteModel

    assert TFLiteModel(exported["m1"])(tf.zeros((0, 543, 3)))["outputs"].numpy().tolist() == [0.0] * 10
    with pytest.raises(ValueError, match="0 frames"):
        predict_frames(np.zeros((0, 543, 3), "float32"), exported["single"])


def test_predict_file_names_the_file_in_every_read_error(exported, tmp_path, monkeypatch):
    "Row 14: a corrupt parquet names the file; data's own message is passed on as it is, others get the name."
    import pyarrow as pa
    import sign_notes.islr.export as export
    from sign_notes.data import write_landmark_parquet

    pq = write_landmark_parquet(_frames(4), tmp_path / "seq.parquet")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(pq.read_bytes()[: pq.stat().st_size // 2])
    with pytest.raises(ValueError, match=re.escape(str(cut))):
        predict_file(cut, exported["single"])
    for err in (ValueError(f"{pq} is broken"), ValueError("no name here"), pa.ArrowInvalid("magic bytes")):

        def fail(path, err=err):
            raise err

        monkeypatch.setattr(export, "load_relevant_data_subset", fail)
        with pytest.raises(ValueError) as info:
            predict_file(pq, exported["single"])
        assert str(info.value).count(str(pq)) == 1, str(info.value)


# ---- issue 15: the faster paths (lean graph, int8 and float16 weights) answer like the plain file ----


def _sign_like(n: int) -> list:
    "`n` recordings from the course's synthetic generator (6 to 120 frames, a hand missing at times): sign `i % 5`."
    from sign_notes.synth import _make_signers, _sign_recipe, _synth_sequence

    recipes = [_sign_recipe(np.random.default_rng([7, k]), k) for k in range(5)]
    signers = list(_make_signers(np.random.default_rng(7), 3).values())
    return [_synth_sequence(recipes[i % 5], np.random.default_rng([7, i]), signers[i % 3]) for i in range(n)]


def _trained_model(clips, labels, num_classes=10, max_len=32, epochs=30):
    "A small model (dim 64) trained for a few seconds on `clips`' `Preprocess` features (crops of `max_len` frames)."
    import keras
    from sign_notes.islr.features import Preprocess
    from sign_notes.landmarks import CHANNELS, PAD

    x = np.full((len(clips), max_len, CHANNELS), PAD, np.float32)
    for i, c in enumerate(clips):
        f = Preprocess(max_len=max_len)(c).numpy()[0]
        x[i, : len(f)] = f
    tf.keras.utils.set_random_seed(0)  # the same weights every run: the int8 rounding is then fixed too
    m = get_model(max_len=max_len, dim=64, num_classes=num_classes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    m.compile(keras.optimizers.Adam(3e-3), loss)
    m.fit(x, np.asarray(labels), epochs=epochs, batch_size=8, verbose=0)
    return m


@pytest.fixture(scope="module")
def fast_files(tmp_path_factory):
    """A TRAINED 10-output model (5 synthetic signs, 40 recordings, a few seconds: answers with a real model's margins,
    not random weights' near ties) as the plain file (the seed's graph, float32) and each faster file."""
    d = tmp_path_factory.mktemp("islr_fast")
    clips = _sign_like(60)
    labels = [i % 5 for i in range(60)]
    m = _trained_model(clips[:40], labels[:40], max_len=32)
    files = {  # served at the length it was trained at, as train_islr_main exports
        "plain": export_tflite(m, d / "plain.tflite", lean=False, max_len=32),
        "lean": export_tflite(m, d / "lean.tflite", max_len=32),
        "float16": export_tflite(m, d / "fp16.tflite", quantize="float16", max_len=32),
        "dynamic": export_tflite(m, d / "int8.tflite", quantize="dynamic", max_len=32),
    }
    return dict(model=m, files=files, seqs=clips[40:], labels=labels[40:])


def test_the_fast_files_model_really_classifies(fast_files):
    "The check below means something only if the model has learnt the signs: held-out recordings, clear answers."
    plain = tflite_runner(fast_files["files"]["plain"])
    out = np.stack([plain(inputs=x)["outputs"] for x in fast_files["seqs"]])
    assert np.mean(out.argmax(1) == np.array(fast_files["labels"])) >= 0.9
    top2 = np.sort(out, 1)[:, -2:]
    assert np.median(top2[:, 1] - top2[:, 0]) > 1.0  # int8 weights move a logit by about 0.1


@pytest.mark.parametrize("fast", ["lean", "float16", "dynamic"])
def test_faster_files_give_the_plain_files_top1(fast_files, fast):
    "The trained model: the same top-1 as the plain file on every held-out recording (20, 6 to 120 frames)."
    plain, other = (tflite_runner(fast_files["files"][k]) for k in ("plain", fast))
    for x in fast_files["seqs"]:
        want, got = plain(inputs=x)["outputs"], other(inputs=x)["outputs"]
        assert int(np.argmax(got)) == int(np.argmax(want)), (fast, len(x))
        if fast == "lean":  # the same graph's numbers, computed with less work
            np.testing.assert_allclose(got, want, atol=1e-4)


def test_faster_files_are_smaller(fast_files):
    "int8 weights: about a third of this small model's float32 file (0.27 for dim 192: its weights weigh more)."
    size = {k: p.stat().st_size for k, p in fast_files["files"].items()}
    # trained weights: 0.36 (random ones, 0.35: the converter stores identical constants, zeros and ones, once)
    assert size["dynamic"] < 0.4 * size["plain"] and size["float16"] < 0.6 * size["plain"]


def test_quantize_refuses_unknown_and_conflicting_choices(exported, tmp_path):
    with pytest.raises(ValueError, match="quantize must be one of"):
        export_tflite(exported["m1"], tmp_path / "x.tflite", quantize="int4")
    with pytest.raises(ValueError, match="pick one"):
        export_tflite(exported["m1"], tmp_path / "x.tflite", fp16=True, quantize="dynamic")
    assert not (tmp_path / "x.tflite").exists()


def test_lean_graph_keeps_the_zero_frame_and_inf_answers(fast_files):
    lean = tflite_runner(fast_files["files"]["lean"])
    assert lean(inputs=np.zeros((0, 543, 3), np.float32))["outputs"].tolist() == [0.0] * 10
    x = fast_files["seqs"][0].copy()
    y = x.copy()
    y[0, 470, 0] = np.inf  # inf is missing, like NaN
    x[0, 470, 0] = np.nan
    np.testing.assert_allclose(lean(inputs=y)["outputs"], lean(inputs=x)["outputs"], atol=1e-5)
