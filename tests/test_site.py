"""The course site's tools: .ci/execute_nbs.py (a notebook run as nbdev_test runs it, outputs kept) and the page
preparation of docs/build.py. The site itself is built and checked in a browser by .ci/run (docs/check_site.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import build  # noqa: E402  (docs/build.py)


def _nb(*cells) -> dict:
    return {
        "cells": [
            {
                "cell_type": t,
                "id": f"c{i}",
                "metadata": {},
                "source": s,
                **({"outputs": [], "execution_count": None} if t == "code" else {}),
            }
            for i, (t, s) in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _execute(tmp_path, nb: dict, name="t.ipynb"):
    src = tmp_path / name
    src.write_text(json.dumps(nb))
    out = tmp_path / "executed"
    r = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "execute_nbs.py"), str(src), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return r, (json.loads((out / name).read_text()) if (out / name).exists() else None)


def test_execute_keeps_outputs_and_skips_as_nbdev_test(tmp_path):
    nb = _nb(
        ("markdown", "# T\n\n> a test notebook"),
        ("code", "import os\nprint('in test:', os.environ.get('IN_TEST'))"),
        ("code", "#| eval: false\nraise RuntimeError('an eval: false cell ran')"),
        ("code", "#| notest\nraise RuntimeError('a notest cell ran')"),
        ("code", "#| export\ndef f(): return 41 + 1"),
        ("code", "f()"),
        ("code", "from pathlib import Path\nPath.cwd().name"),
    )
    r, done = _execute(tmp_path, nb)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok ") and " s) -> " in r.stdout
    code = [c for c in done["cells"] if c["cell_type"] == "code"]
    assert "".join(code[0]["outputs"][0]["text"]) == "in test: 1\n"
    assert code[1]["outputs"] == [] and code[1]["execution_count"] is None  # eval: false: not run
    assert code[2]["outputs"] == [] and code[2]["execution_count"] is None  # a tst_flag: not run
    assert code[4]["outputs"][0]["data"]["text/plain"] == ["42"]  # the export cell ran
    assert code[5]["outputs"][0]["data"]["text/plain"] == [repr(tmp_path.name)]  # run in the notebook's folder
    assert code[1]["source"] == nb["cells"][2]["source"]  # the notebook as on disk, directives kept


def test_execute_fails_and_keeps_the_error(tmp_path):
    r, done = _execute(tmp_path, _nb(("code", "x = 1"), ("code", "1 / 0"), ("code", "print('never')")))
    assert r.returncode == 1 and r.stdout.startswith("FAILED ")
    assert "ZeroDivisionError" in r.stderr
    code = [c for c in done["cells"] if c["cell_type"] == "code"]
    assert "error" in [o["output_type"] for o in code[1]["outputs"]] and code[2]["outputs"] == []


def test_execute_refuses_a_non_notebook(tmp_path):
    (tmp_path / "x.py").write_text("")
    r = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "execute_nbs.py"), str(tmp_path / "x.py")], capture_output=True, text=True
    )
    assert r.returncode == 2 and "not a notebook" in r.stderr


def test_every_notebook_is_a_page_index_first():
    pages = build.notebooks()
    assert pages[0].name == "index.ipynb"
    assert [p.name for p in pages[1:]] == sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb") if p.stem != "index")


@pytest.mark.parametrize(
    "source, tags, shown",
    [
        ("#| hide\nfrom fastcore.test import *", ["remove-cell"], "from fastcore.test import *"),
        ("#| default_exp viz", ["remove-cell"], ""),
        ("#| export\ndef f(): pass", [], "def f(): pass"),
        ("#| echo: false\nplot()", ["remove-input"], "plot()"),
        ("#|output: false\nx", ["remove-output"], "x"),
        ("x = 1  #| not a directive", [], "x = 1  #| not a directive"),
    ],
)
def test_directives(source, tags, shown):
    found, rest = build.directives(source)
    assert build.cell_tags(found) == tags and rest == shown


def test_static_markdown():
    md = (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/x)"
        " ![logo](https://example.org/l.png) ![fig](../figures/03_viz/hand.gif) [README](../README.md#three-commands)"
        " [code](../sign_notes/viz.py) [next](04_graph.ipynb)"
    )
    out = build.static_markdown(md)
    assert "[Open In Colab](https://colab.research.google.com/x)" in out and "![" not in out.replace("![fig]", "")
    assert "[logo](https://example.org/l.png)" in out and "![fig](../figures/03_viz/hand.gif)" in out
    assert "[README](index.ipynb#three-commands)" in out and "[next](04_graph.ipynb)" in out
    assert "[code](https://github.com/sign-notes/sign_notes/blob/main/sign_notes/viz.py)" in out


def test_static_outputs():
    fig = {"data": [{"type": "scatter", "x": [1, 2], "y": [3, 4]}], "layout": {}}
    outs = [
        {"output_type": "display_data", "data": {build.PLOTLY_JSON: fig}, "metadata": {}},
        {"output_type": "execute_result", "data": {}, "metadata": {}, "execution_count": 1},
        {"output_type": "display_data", "data": {build.PLOTLY_JSON: fig}, "metadata": {}},
        {"output_type": "display_data", "data": {"text/html": ["<script>window.PlotlyConfig = {};</script>"]}},
        {"output_type": "display_data", "data": {build.WIDGET: {"model_id": "a"}, "text/plain": ["VBox()"]}},
        {"output_type": "stream", "name": "stdout", "text": ["hi\n"]},
        {
            "output_type": "execute_result",
            "data": {
                "text/html": [
                    '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">'
                    '<button><i class="fa fa-play"></i></button>'
                ]
            },
            "metadata": {},
        },
    ]
    got = build.static_outputs(outs, state := {})
    assert len(got) == 5 and state == {"plotly": True}
    first, second = got[0]["data"]["text/html"], got[1]["data"]["text/html"]
    assert first.count('src="_static/plotly.min.js"') == 1 and "_static/plotly.min.js" not in second
    assert "cdn" not in (first + second).lower() and "Plotly.newPlot" in second
    assert got[2]["data"] == {"text/html": build.WIDGET_NOTE} and got[3]["output_type"] == "stream"
    assert "font-awesome" not in got[4]["data"]["text/html"] and "&#9654;" in got[4]["data"]["text/html"]


def test_stage_notebook_matches_outputs_by_code(tmp_path):
    src = _nb(
        ("markdown", "# T"), ("code", "#| hide\nx = 1"), ("code", "x"), ("code", "y = 2"), ("code", "#| export\n")
    )
    ran = json.loads(json.dumps(src))
    ran["cells"][2]["outputs"] = [{"output_type": "execute_result", "data": {"text/plain": ["1"]}, "metadata": {}}]
    ran["cells"][3]["source"] = "y = 3"  # edited after the run: no outputs, counted
    (tmp_path / "t.ipynb").write_text(json.dumps(src))
    (tmp_path / "ran.ipynb").write_text(json.dumps(ran))
    nb, missing = build.stage_notebook(tmp_path / "t.ipynb", tmp_path / "ran.ipynb", toc=["01_a", "02_b"])
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert missing == 1 and len(code) == 3  # the empty export cell is left out
    assert code[0]["metadata"]["tags"] == ["remove-cell"] and code[0]["source"] == "x = 1"
    assert code[1]["outputs"][0]["data"]["text/plain"] == ["1"]
    assert nb["cells"][-1]["source"].startswith("```{toctree}") and "01_a\n02_b" in nb["cells"][-1]["source"]
