"The README's main job, `sign-notes tour`, end to end in a subprocess (its quick form, on synthetic data)."

import json
import shlex
import subprocess
import sys

import pytest
from PIL import Image

pytest.importorskip("tensorflow", reason="the tour's training and TFLite steps need TensorFlow ([tf] extra)")

CLI = [sys.executable, "-c", "from sign_notes.cli import main; main()"]


def test_tour_quick(tmp_path):
    r = subprocess.run(CLI + ["tour", "--quick"], capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    for step in ("1/4", "2/4", "3/4", "4/4"):
        assert step in r.stdout
    lines = r.stdout.strip().splitlines()
    result = json.loads(lines[-1])  # the final JSON line
    assert result["val_accuracy"] > 0.3  # 10 signs: chance is 0.1
    assert (tmp_path / result["tflite_path"]).stat().st_size > 100_000  # the weights are in the file
    assert len(result["prediction"]) == 3 and abs(sum(p for _, p in result["prediction"])) <= 1.0001
    gif, png = tmp_path / "figures/tour/sequence.gif", tmp_path / "figures/tour/sequence_sheet.png"
    assert Image.open(gif).n_frames > 1 and Image.open(png).size[0] > 100
    assert "cuInit" not in r.stderr  # issue 11, row 23: no CUDA noise on a machine without a GPU

    # issue 11, row 26: the tour ends with the exact next command, and `predict` finds the tour's model by itself
    nxt = shlex.split(lines[-2])
    assert nxt[:2] == ["sign-notes", "predict"] and nxt[3:] == ["--model", result["tflite_path"]]
    p = subprocess.run(CLI + nxt[1:], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0 and p.stdout.count("%") == 5, p.stderr[-3000:]
    p = subprocess.run(CLI + ["predict", nxt[2]], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert p.returncode == 0 and "model: runs/tour/islr/model.tflite" in p.stdout, p.stderr[-3000:]
    assert "synthetic" not in p.stderr  # a synthetic model on a synthetic recording: nothing to warn about
