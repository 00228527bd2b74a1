"Tests of the `sign-notes` command line, each command in its own process."

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

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


# --- issue 11: every error one line, `sign-notes <command>: error: ...`, exit code 1 (argparse's usage errors: 2) ---


def run(*args, cwd=None, env=None):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env)


def one_line_error(r, command: str, code: int = 1) -> str:
    "A failed command's stderr: one line, `sign-notes <command>: error: ...` (after argparse's usage); no traceback."
    assert r.returncode == code, (r.returncode, r.stdout[-1000:], r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    if code == 2:  # argparse's usage errors: its usage lines first, then the one error line
        assert lines[0].startswith("usage: sign-notes"), r.stderr[-3000:]
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith(f"sign-notes {command}: error: "), r.stderr[-3000:]
    return lines[0]


def skeleton(T=12, pad=5):
    "A (3, T + pad, 25, 1) BODY_25 skeleton with zero padding at the end."
    out = np.zeros((3, T + pad, 25, 1))
    out[:2, :T, :, 0] = np.random.default_rng(0).uniform(-0.3, 0.3, (2, T, 25))
    out[2, :T] = 0.8
    return out


@pytest.fixture
def clip(tmp_path):
    np.save(tmp_path / "one.npy", skeleton())
    return tmp_path / "one.npy"


def test_animate_index_on_a_single_clip_is_refused(tmp_path, clip):  # row 10
    line = one_line_error(run("animate", clip, "--out", tmp_path / "x.gif", "--index", 3), "animate")
    assert "index=3" in line and "one.npy" in line and "one recording" in line
    assert not (tmp_path / "x.gif").exists()


def test_zero_limit_and_zero_fps_are_usage_errors(tmp_path, clip):  # row 16
    line = one_line_error(run("stats", tmp_path, "--limit", "0"), "stats", code=2)
    assert "--limit" in line and "got 0" in line
    line = one_line_error(run("animate", clip, "--out", tmp_path / "x.gif", "--fps", "0"), "animate", code=2)
    assert "--fps" in line and "> 0" in line
    one_line_error(run("animate", clip, "--out", tmp_path / "x.gif", "--fps", "nan"), "animate", code=2)
    one_line_error(run("animate", clip, "--out", tmp_path / "x.gif", "--max-frames", "x"), "animate", code=2)


def test_out_that_is_a_file_or_read_only_is_named(tmp_path, clip):  # row 17
    (tmp_path / "a_file").write_text("not a folder")
    line = one_line_error(run("synth", "--out", tmp_path / "a_file", "--signs", 2, "--per-sign", 1), "synth")
    assert "a_file is a file, not a folder" in line
    line = one_line_error(run("animate", clip, "--out", tmp_path / "a_file" / "sub" / "x.gif"), "animate")
    assert "a_file is a file" in line
    if os.geteuid() == 0:  # root writes through permission bits: a place the kernel refuses to anyone instead
        ro = Path("/sys/sign_notes_test_out")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        ro = tmp_path / "ro" / "out"
    line = one_line_error(run("synth", "--out", ro, "--signs", 2, "--per-sign", 1, "--participants", 1), "synth")
    assert str(ro.parent) in line or str(ro) in line


def test_mp4_without_ffmpeg_says_so_and_names_the_gif(tmp_path, clip):  # row 21
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no ffmpeg on this PATH
    line = one_line_error(run("animate", clip, "--out", tmp_path / "x.mp4", env=env), "animate")
    assert "ffmpeg" in line and "x.gif" in line


def test_stats_on_a_parquet_file_says_it_wants_the_folder(tmp_path):  # row 22
    pq = tmp_path / "1234.parquet"
    pq.write_bytes(b"PAR1")
    line = one_line_error(run("stats", pq), "stats")
    assert "1234.parquet is a file, not a dataset folder" in line and "animate" in line


def test_tensorflow_command_error_is_one_line_without_cuda_noise_or_empty_folders(tmp_path):  # rows 23, 34
    pytest.importorskip("tensorflow", reason="a TensorFlow command")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "new" / "run"
    r = run("train-islr", "--data", tmp_path / "empty", "--out", out)  # fails after the trainer made --out
    line = one_line_error(r, "train-islr")  # one line: no TensorFlow start-up lines either
    assert "empty" in line  # the bad --data is named
    assert "cuInit" not in r.stderr and "cuda" not in r.stderr.lower()  # no CUDA noise on a machine without a GPU
    assert not (tmp_path / "new").exists()  # the folders the failed command made are gone
    assert (tmp_path / "empty").is_dir()  # and nothing else


def test_debug_shows_the_traceback(tmp_path):
    r = run("stats", tmp_path / "nope", env={**os.environ, "SIGN_NOTES_DEBUG": "1"})
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_install_hint_works_from_git_or_a_clone():  # row 27
    from sign_notes.cli import GIT_URL, _install_hint

    hint = _install_hint("tf")
    assert f'pip install "sign-notes[tf] @ git+{GIT_URL}"' in hint and 'pip install -e ".[tf]"' in hint
    assert "'sign-notes[tf]'" not in hint


@pytest.fixture
def fake_entry_points(monkeypatch):
    "Run the TensorFlow/Paddle commands in this process with stand-in entry points: what the CLI says around them."
    from sign_notes import cli

    fake = SimpleNamespace(calls={}, own={})  # the calls made; a test's own stand-ins, by entry point name

    def load(module, name, framework, extra):
        def entry(*args, **kw):
            fake.calls[name] = (args, kw)
            return [("sign_000", 0.9)] if name == "predict_file" else {"val_accuracy": 0.5}

        return fake.own.get(name, entry)

    monkeypatch.setattr(cli, "_load_entry_point", load)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # main sets it: put back afterwards
    return fake


def test_training_without_data_says_it_is_synthetic(tmp_path, capsys, fake_entry_points):  # row 28
    from sign_notes.cli import main

    for command in ("train-islr", "train-stgcn"):
        main([command, "--quick", "--out", str(tmp_path / command)])
        out = capsys.readouterr().out
        assert "no --data given: training on synthetic" in out and "--data DIR" in out
    (tmp_path / "real").mkdir()
    main(["train-islr", "--quick", "--data", str(tmp_path / "real"), "--out", str(tmp_path / "r")])
    assert "synthetic" not in capsys.readouterr().out


def test_predict_finds_the_tour_model_and_warns_about_synthetic_signs(tmp_path, monkeypatch, capsys,
                                                                     fake_entry_points):  # rows 26, 28
    from sign_notes.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:  # no model anywhere: it says where it looked
        main(["predict", "real.parquet"])
    assert "runs/islr/model.tflite" in str(e.value) and "runs/tour/islr/model.tflite" in str(e.value)
    model = tmp_path / "runs" / "tour" / "islr" / "model.tflite"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"stand-in")
    (model.parent / "sign_to_prediction_index_map.json").write_text(json.dumps({"sign_000": 0, "sign_001": 1}))
    main(["predict", "real.parquet"])
    out, err = capsys.readouterr()
    assert fake_entry_points.calls["predict_file"][0][1] == Path("runs/tour/islr/model.tflite")
    assert "model: runs/tour/islr/model.tflite" in out and "trained on synthetic signs" in err
    syn = tmp_path / "syn"  # a recording of a synthetic dataset: no warning
    (syn / "train_landmark_files").mkdir(parents=True)
    (syn / "train.csv").write_text("path\n")
    (syn / "synthetic.json").write_text("{}")
    main(["predict", str(syn / "train_landmark_files" / "1.parquet")])
    assert "synthetic" not in capsys.readouterr().err


def test_failed_command_removes_only_the_empty_folders_it_made(tmp_path, fake_entry_points):  # row 34
    from sign_notes.cli import main

    def failing(out, mine):  # a trainer that makes folders and a file under `out`, then fails
        (Path(out) / "a" / "b").mkdir(parents=True)
        (Path(out) / "c").mkdir()
        (Path(out) / "c" / mine).write_text("written")
        raise ValueError("bad settings")

    fake_entry_points.own["train_islr_main"] = lambda out_dir, **kw: failing(out_dir, "result.json")
    with pytest.raises(SystemExit, match="sign-notes train-islr: error: bad settings"):
        main(["train-islr", "--data", str(tmp_path), "--out", str(tmp_path / "new" / "run")])
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "new").rglob("*")) == [
        "new/run", "new/run/c", "new/run/c/result.json"]  # a/b gone; the folders holding a file stay
    (tmp_path / "mine").mkdir()  # an empty folder the command did not make stays
    fake_entry_points.own["train_islr_main"] = lambda **kw: (_ for _ in ()).throw(ValueError("no"))
    with pytest.raises(SystemExit):
        main(["train-islr", "--data", str(tmp_path), "--out", str(tmp_path / "mine")])
    assert (tmp_path / "mine").is_dir()


def test_every_option_has_help_and_shows_its_default():  # row 30
    from sign_notes.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    for name, p in commands.items():
        for action in p._actions:
            assert action.help, (name, action.dest)
    r = run("animate", "--help")
    text = " ".join(r.stdout.split())  # argparse wraps the lines
    assert r.returncode == 0 and "--fps FPS frames per second (default: 10)" in text and "(default: 60)" in text


def test_tour_figures_are_ignored_by_git():  # row 32
    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    r = subprocess.run(["git", "check-ignore", "-q", "figures/tour/sequence.gif"], cwd=root)
    assert r.returncode == 0, "figures/tour/ (what `sign-notes tour` draws) must be in .gitignore"


# --- issue 17: `train-islr --arch transformer` ---


def test_unknown_arch_is_a_usage_error_and_arch_reaches_the_trainer(tmp_path, fake_entry_points):
    line = one_line_error(run("train-islr", "--arch", "lstm", "--out", tmp_path / "x"), "train-islr", code=2)
    assert "--arch" in line and "'lstm'" in line and "transformer" in line
    assert not (tmp_path / "x").exists()
    from sign_notes.cli import main

    for argv, arch in (([], "1st-place"), (["--arch", "transformer"], "transformer")):
        main(["train-islr", "--quick", "--out", str(tmp_path / "r"), *argv])
        assert fake_entry_points.calls["train_islr_main"][1]["arch"] == arch


def test_train_islr_transformer_quick_then_predict(tmp_path):  # about a minute and a half on 2 CPU cores
    pytest.importorskip("tensorflow", reason="a TensorFlow command")
    out = tmp_path / "transformer"
    r = run("train-islr", "--arch", "transformer", "--quick", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])  # the same JSON line as the 1st-place training
    assert {"val_accuracy", "top5", "tflite_path", "sign_map_path", "seconds", "synthetic"} <= set(res), res
    assert res["arch"] == "transformer" and res["synthetic"] is True
    assert res["val_accuracy"] >= 0.9 and res["top5"] >= res["val_accuracy"], res  # held-out signer, synthetic signs
    assert Path(res["tflite_path"]) == out / "model.tflite" and (out / "sign_to_prediction_index_map.json").is_file()
    one = sorted((out / "data" / "train_landmark_files").rglob("*.parquet"))[0]
    r = run("predict", one, "--model", res["tflite_path"])  # `predict` unchanged: the sign map beside the model
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 5 and all(re.fullmatch(r"\s*\d+\.\d+%  sign_\d{3}", s) for s in lines), r.stdout
    # the transformer's file outputs probabilities: shown as they are, not softmaxed again (that flattened the top
    # sign to about 14%)
    percents = [float(s.split("%")[0]) for s in lines]
    assert percents[0] > 25 and sum(percents) <= 100.01, r.stdout


def test_fingerspelling_and_seti_commands_reach_their_entry_points(tmp_path, capsys, fake_entry_points):
    from sign_notes.cli import main

    fake_entry_points.own["spell_file"] = lambda *a, **kw: {"phrase": "+1-555-0100", "sequence_id": a[1]}
    main(["train-fingerspelling", "--quick", "--out", str(tmp_path / "a")])
    assert fake_entry_points.calls["train_fingerspelling_main"][1] == dict(
        quick=True, data_dir=None, out_dir=str(tmp_path / "a"))
    assert "no --data given: training on synthetic fingerspelling" in capsys.readouterr().out
    main(["train-seti", "--data", str(tmp_path), "--out", str(tmp_path / "s")])
    assert fake_entry_points.calls["train_seti_main"][1] == dict(quick=False, data_dir=str(tmp_path),
                                                                 out_dir=str(tmp_path / "s"))
    capsys.readouterr()
    main(["spell", str(tmp_path / "1.parquet"), "--sequence-id", "7", "--model", str(tmp_path / "m.tflite")])
    phrase, line = capsys.readouterr().out.strip().splitlines()  # the phrase, then the JSON line
    assert phrase == "+1-555-0100" and json.loads(line) == {"phrase": "+1-555-0100", "sequence_id": 7}


def test_spell_needs_a_sequence_id_and_a_model(tmp_path):
    r = run("spell", tmp_path / "1.parquet", "--model", tmp_path / "m.tflite")
    assert "--sequence-id" in one_line_error(r, "spell", code=2)
    r = run("spell", tmp_path / "1.parquet", "--sequence-id", "x", "--model", tmp_path / "m.tflite")
    assert "'x'" in one_line_error(r, "spell", code=2)


def test_nproc_reaches_the_stgcn_trainer(tmp_path, fake_entry_points):
    from sign_notes.cli import main

    main(["train-stgcn", "--quick", "--nproc", "2", "--out", str(tmp_path / "s")])
    assert fake_entry_points.calls["train_stgcn_main"][1]["nproc"] == 2
    assert "--nproc" in one_line_error(run("train-stgcn", "--nproc", "0"), "train-stgcn", code=2)


def test_tfrecords_converts_in_two_workers_and_a_rerun_reuses_the_files(tmp_path):
    pytest.importorskip("tensorflow", reason="a TensorFlow command")
    r = run("synth", "--out", tmp_path / "d", "--signs", "3", "--per-sign", "4", "--participants", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run("tfrecords", tmp_path / "d", "--out", tmp_path / "tf", "--workers", "2", "--folds", "3",
            "--shard-size", "2", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    files = sorted((tmp_path / "tf").glob("fold*.tfrecords*"))
    assert res["files"] == len(files) >= 3 and res["workers"] == 2, (res, files)
    stamps = {f: f.stat().st_mtime_ns for f in files}
    r = run("tfrecords", tmp_path / "d", "--out", tmp_path / "tf", "--workers", "2", "--folds", "3",
            "--shard-size", "2", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # the same conversion: reused, not written again
