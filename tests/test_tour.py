"The README's main job, `sign-notes tour`, end to end in a subprocess (its quick form, on synthetic data)."

import json
import subprocess
import sys

import pytest
from PIL import Image

pytest.importorskip("tensorflow", reason="the tour's training and TFLite steps need TensorFlow ([tf] extra)")


def test_tour_quick(tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", "from sign_notes.cli import main; main()", "tour", "--quick"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    for step in ("1/4", "2/4", "3/4", "4/4"):
        assert step in r.stdout
    result = json.loads(r.stdout.strip().splitlines()[-1])  # the final JSON line
    assert result["val_accuracy"] > 0.3  # 10 signs: chance is 0.1
    assert (tmp_path / result["tflite_path"]).stat().st_size > 100_000  # the weights are in the file
    assert len(result["prediction"]) == 3 and abs(sum(p for _, p in result["prediction"])) <= 1.0001
    gif, png = tmp_path / "figures/tour/sequence.gif", tmp_path / "figures/tour/sequence_sheet.png"
    assert Image.open(gif).n_frames > 1 and Image.open(png).size[0] > 100
