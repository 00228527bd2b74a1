"Tests of the `sign-notes` command line, each command in its own process."

import subprocess
import sys

CLI = [sys.executable, "-c", "from sign_notes.cli import main; main()"]  # `sign-notes` without relying on the PATH


def test_cli_synth_and_stats(tmp_path):
    synth = ["synth", "--out", str(tmp_path / "d"), "--signs", "2", "--per-sign", "2", "--participants", "2"]
    r = subprocess.run(CLI + synth, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "wrote 4 sequences" in r.stdout
    r = subprocess.run(CLI + ["stats", str(tmp_path / "d")], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "frames, median" in r.stdout
    r = subprocess.run(CLI + ["stats", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode != 0 and "no train.csv" in r.stderr
