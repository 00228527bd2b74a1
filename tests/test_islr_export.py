"""ISLR TFLite submission (issue 7) edge cases: Flex ops refused, bad arguments, predict_file's errors and sign names,
and the exported length of a trained model. The signature, the agreement with Keras and the ensemble mean are
chapter 11's."""

import json

import numpy as np
import pandas as pd
import pytest

tf = pytest.importorskip("tensorflow")

from sign_notes.islr.model import get_model  # noqa: E402
from sign_notes.islr.export import (  # noqa: E402
    _convert,
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
        _convert(NeedsFlex())


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
    with pytest.raises(ValueError, match="not a readable parquet"):
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
