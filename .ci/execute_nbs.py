#!/usr/bin/env python
"""Execute notebooks exactly as `nbdev_test` does, and keep what they print and draw for the course site.

    python .ci/execute_nbs.py nbs/03_viz.ipynb            # one notebook, in this process
    python .ci/execute_nbs.py nbs/00_core.ipynb nbs/04_graph.ipynb   # several: one child process each

A notebook runs through nbdev's own `nbdev.test.test_nb` with nbdev_test's arguments (IN_TEST=1, the cells flagged by
settings.ini's `tst_flags` and `#| eval: false` cells skipped, export cells run, working directory nbs/, the project
root on sys.path, stop at the first exception), so this run *is* the notebook test. The only addition: the cells'
outputs are copied into the notebook as it is on disk, which is written to `_build/executed/<name>.ipynb` (also
when it fails, so its error can be read there). Prints `ok|FAILED <notebook> (<s> s)` per notebook; the exit status
is 1 when a notebook fails.

One notebook per process, always: PaddlePaddle imported after TensorFlow in one process crashes Python, and one
notebook's imports and globals must not leak into the next.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "_build" / "executed"


def _recording_shell():
    "nbdev.test's CaptureShell, remembering the notebook it ran (with the outputs `run_all` stored in its cells)."
    from execnb.shell import CaptureShell

    class RecordingShell(CaptureShell):
        last_nb = None

        def run_all(self, nb, *args, **kwargs):
            RecordingShell.last_nb = nb
            return super().run_all(nb, *args, **kwargs)

        def cell(self, cell, *args, **kwargs):
            cell.ran_ = True  # run (not skipped by a flag or `#| eval: false`); a trailing _ is never written
            return super().cell(cell, *args, **kwargs)

    return RecordingShell


def _with_outputs(src: Path, ran) -> dict:
    """The notebook `src` as it is on disk, each code cell given the outputs of the same code cell in `ran` (nbdev's
    processed copy: same code cells in the same order, directive comments removed, the title cell turned into
    front matter). A cell that was skipped (`#| eval: false`, a tst_flag) or not reached keeps no outputs."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    done = [c for c in (ran.cells if ran is not None else []) if c.get("cell_type") == "code"]
    if ran is not None and len(code) != len(done):
        raise RuntimeError(f"{src}: {len(code)} code cells on disk but {len(done)} in nbdev's processed copy")
    count = 0
    for i, cell in enumerate(code):
        cell["outputs"], cell["execution_count"] = [], None
        if not (done and done[i].get("ran_")):
            continue
        outs = done[i].get("outputs") or []
        count += 1
        cell["execution_count"] = count
        for o in outs:
            o = json.loads(json.dumps(o))  # execnb's AttrDicts -> plain JSON
            if o.get("output_type") == "execute_result":
                o["execution_count"] = count
            cell["outputs"].append(o)
    return nb


def execute_one(nb_path: Path, out_dir: Path = OUT_DIR) -> tuple[bool, float, Path]:
    "Run one notebook as nbdev_test does; write it with its outputs to `out_dir` -> (passed, seconds, written path)."
    import nbdev.test
    from nbdev.config import get_config
    from fastcore.xtras import working_directory

    # plotly: its JSON only (JupyterLab draws it; the site renders it with a local plotly.js), not the 'notebook'
    # renderer's inline copy of plotly.js plus a MathJax script from a CDN
    os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype")
    cfg = get_config()
    nb_path = Path(nb_path).absolute()
    shell = _recording_shell()
    nbdev.test.CaptureShell = shell  # test_nb makes its shell from this module global
    nbs = cfg.nbs_path if (cfg.nbs_path and cfg.nbs_path.exists()) else Path.cwd()
    with working_directory(nbs):  # where nbdev_test runs test_nb (which then moves to the notebook's folder)
        passed, seconds = nbdev.test.test_nb(
            nb_path, skip_flags=cfg.tst_flags.split(), force_flags=[], basepath=cfg.config_path, showerr=True
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / nb_path.name
    out.write_text(json.dumps(_with_outputs(nb_path, shell.last_nb), indent=1, ensure_ascii=False) + "\n")
    return passed, seconds, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the executed copies (default _build/executed)")
    a = p.parse_args(argv)
    for nb in a.notebooks:
        if not nb.is_file() or nb.suffix != ".ipynb":
            p.error(f"not a notebook: {nb}")
    if len(a.notebooks) == 1:
        passed, seconds, out = execute_one(a.notebooks[0], a.out)
        print(f"{'ok' if passed else 'FAILED'} {a.notebooks[0]} ({seconds:.0f} s) -> {out}", flush=True)
        return 0 if passed else 1
    failed, start = [], time.time()
    for nb in a.notebooks:  # one child process per notebook
        if subprocess.run([sys.executable, __file__, str(nb), "--out", str(a.out)]).returncode != 0:
            failed.append(str(nb))
    print(f"{len(a.notebooks)} notebooks in {time.time() - start:.0f} s; failed: {' '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
