#!/usr/bin/env python
"""Build the course site, offline, from the notebooks as `.ci/execute_nbs.py` executed them.

    python .ci/execute_nbs.py nbs/03_viz.ipynb   # once per notebook (CI does every one; it is also their test)
    python docs/build.py                          # -> _build/site/index.html
    python docs/check_site.py                     # the headless-browser check CI runs on it

Every `nbs/*.ipynb` becomes a page, in file-name order after the index (a new chapter needs nothing here). The
prose and code come from the notebook in nbs/, the outputs from its executed copy in `_build/executed/` (matched
cell by cell on the code, so prose edited after the run still shows its outputs); a notebook without an executed
copy is shown without outputs and named, and `--strict` (CI) makes that an error, as it does any Sphinx warning.

What changes on the way into `_build/site_src/` (the notebooks themselves are never touched):
- nbdev directives: `#| hide` and `#| default_exp` cells are left out, `#| echo: false` shows only the output,
  `#| output: false` only the code; the `#|` lines themselves are not shown;
- the Colab/Kaggle badges (images from the web) become plain links, so the pages load no remote image;
- matplotlib's jshtml players lose their Font Awesome stylesheet (a CDN) and get text symbols on their buttons;
- plotly figures (their JSON output) become HTML drawing with the plotly.js of the installed plotly package, which
  Sphinx copies into `_static/`; an ipywidgets view (it needs a live kernel) becomes a short note;
- `figures/` is copied beside `site_src/`, so the notebooks' `../figures/...` links resolve and Sphinx copies the
  images into the site; the index gets a hidden table of contents listing every chapter.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = ROOT / "_build"
PLOTLY_JSON = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
DIRECTIVE = re.compile(r"^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")
BADGE = re.compile(r"\[!\[([^\]]*)\]\((https?://[^)\s]+)\)\]\((https?://[^)\s]+)\)")
REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\((https?://[^)\s]+)\)")
FONT_AWESOME = re.compile(r'<link[^>]*href="https?://[^"]*font-awesome[^"]*"[^>]*>')
FA_ICON = re.compile(r'<i class="fa ([\w -]+)"></i>')
# matplotlib's jshtml player draws its buttons with Font Awesome from a CDN: text symbols instead, offline
FA_TEXT = {
    "fa-minus": "&minus;",
    "fa-fast-backward": "|&#9664;&#9664;",
    "fa-step-backward": "|&#9664;",
    "fa-play fa-flip-horizontal": "&#9664;",
    "fa-pause": "&#10074;&#10074;",
    "fa-play": "&#9654;",
    "fa-step-forward": "&#9654;|",
    "fa-fast-forward": "&#9654;&#9654;|",
    "fa-plus": "+",
}
WIDGET_NOTE = "<p><em>(an ipywidgets view: it needs a live kernel; open the notebook to use it)</em></p>"


def notebooks(nbs: Path = ROOT / "nbs") -> list[Path]:
    "Every notebook of the course, the index first, then the chapters in file-name order (as nbdev skips _ and .)."
    found = sorted(p for p in nbs.glob("*.ipynb") if not p.name.startswith(("_", ".")))
    return sorted(found, key=lambda p: p.stem != "index")


def directives(source: str) -> tuple[dict[str, str], str]:
    "The nbdev `#|` directives at the top of a code cell -> ({name: value}, the source without them)."
    lines, found = source.splitlines(True), {}
    while lines and (m := DIRECTIVE.match(lines[0])):
        found[m.group(1).lower()] = m.group(2).lower()
        lines.pop(0)
    return found, "".join(lines).strip("\n")


def cell_tags(found: dict[str, str]) -> list[str]:
    "myst-nb tags for a code cell with these directives."
    if "hide" in found or "default_exp" in found or found.get("include") == "false":
        return ["remove-cell"]
    return (["remove-input"] if found.get("echo") == "false" else []) + (
        ["remove-output"] if found.get("output") == "false" else []
    )


def _repo_url() -> str:
    "The repository's address on GitHub, from settings.ini (git_url, branch)."
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "settings.ini")
    return f"{cfg['DEFAULT']['git_url'].rstrip('/')}/blob/{cfg['DEFAULT'].get('branch', 'main')}"


def _outside_link_target(target: str) -> str:
    """A link from a notebook to a repository file outside nbs/ and figures/ -> `](...)` to the index for the README
    (it is made from the index), else to the file on GitHub."""
    if target.split("#")[0] == "../README.md":
        return f"](index.ipynb{target[len('../README.md') :]})"
    return f"]({_repo_url()}/{target[3:]})"


OUTSIDE = re.compile(r"\]\((\.\./(?!figures/)[^)\s]*)\)")


def static_markdown(text: str) -> str:
    """Badges (remote images in links) -> plain links; any other remote image -> a link: the site loads nothing
    remote. Links to repository files outside nbs/ (other than figures/) -> the index (README) or GitHub."""
    text = REMOTE_IMAGE.sub(r"[\1](\2)", BADGE.sub(r"[\1](\3)", text))
    return OUTSIDE.sub(lambda m: _outside_link_target(m.group(1)), text)


def _text(v) -> str:
    return "".join(v) if isinstance(v, list) else str(v)


def static_outputs(outputs: list[dict], state: dict) -> list[dict]:
    """Outputs a static page can show: plotly JSON -> HTML drawing with `_static/plotly.min.js` (the script tag
    once a page, in `state`), plotly's own inline copy of plotly.js dropped, a widget view -> a note, empty results
    dropped."""
    import plotly.io as pio

    kept = []
    for o in outputs:
        data = o.get("data")
        if data is None:  # stream, error
            kept.append(o)
            continue
        if PLOTLY_JSON in data:
            fig = data[PLOTLY_JSON]
            fig = json.loads(fig) if isinstance(fig, str) else fig
            js = False if state.get("plotly") else "_static/plotly.min.js"
            state["plotly"] = True
            html = pio.to_html(fig, include_plotlyjs=js, full_html=False, include_mathjax=False, validate=False)
            data = {"text/html": html}
        elif "text/html" in data and "PlotlyConfig" in _text(data["text/html"]):
            continue  # plotly's 'notebook' renderer: plotly.js itself (and a MathJax script from a CDN)
        elif "text/html" in data and FONT_AWESOME.search(_text(data["text/html"])):
            html = FONT_AWESOME.sub("", _text(data["text/html"]))
            data = {**data, "text/html": FA_ICON.sub(lambda m: FA_TEXT.get(m.group(1), m.group(1)), html)}
        elif WIDGET in data:
            data = {"text/html": WIDGET_NOTE}
        if not data:
            continue
        kept.append({**o, "data": data, "metadata": o.get("metadata", {})})
    return kept


def executed_outputs(executed: Path | None) -> dict[str, list]:
    "code cell source -> list of the outputs each run of that source gave (in order), from an executed copy."
    found: dict[str, list] = {}
    if executed is not None and executed.exists():
        for c in json.loads(executed.read_text(encoding="utf-8"))["cells"]:
            if c["cell_type"] == "code":
                found.setdefault(_text(c["source"]), []).append(c.get("outputs", []))
    return found


def stage_notebook(src: Path, executed: Path | None, toc: list[str] | None = None) -> tuple[dict, int]:
    "The page version of notebook `src` with the outputs of `executed` -> (notebook, code cells without a match)."
    nb = json.loads(src.read_text(encoding="utf-8"))
    outs, missing, state, cells = executed_outputs(executed), 0, {}, []
    for c in nb["cells"]:
        c = dict(c)
        if c["cell_type"] == "markdown":
            c["source"] = static_markdown(_text(c["source"]))
        elif c["cell_type"] == "code":
            source = _text(c["source"])
            found, shown = directives(source)
            runs = outs.get(source)
            if runs is None:
                missing += 1
            c["outputs"] = static_outputs(runs.pop(0) if runs else [], state)
            c["source"] = shown
            tags = cell_tags(found)
            if not shown.strip() and not c["outputs"]:
                continue
            c["metadata"] = {**c.get("metadata", {}), "tags": tags} if tags else c.get("metadata", {})
        cells.append(c)
    if toc:
        lines = "\n".join(toc)
        toctree = f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{lines}\n```"
        cells.append({"cell_type": "markdown", "metadata": {}, "source": toctree})
    nb["cells"] = cells
    return nb, missing


def stage(
    executed_dir: Path,
    src_dir: Path,
    nbs: Path = ROOT / "nbs",
    figures: Path = ROOT / "figures",
    only: list[str] | None = None,
) -> list[str]:
    """Write every notebook's page version (or the index and the `only` ones) into `src_dir` and the figures beside
    it -> problems (missing outputs)."""
    for d in (src_dir, src_dir.parent / "figures"):
        shutil.rmtree(d, ignore_errors=True)
    src_dir.mkdir(parents=True)
    shutil.copytree(figures, src_dir.parent / "figures")  # ../figures/... from a page, as from nbs/
    pages, problems = [p for p in notebooks(nbs) if not only or p.stem in {"index", *only}], []
    toc = [p.stem for p in pages if p.stem != "index"]
    for p in pages:
        executed = executed_dir / p.name
        nb, missing = stage_notebook(p, executed if executed.exists() else None, toc if p.stem == "index" else None)
        if not executed.exists():
            problems.append(f"{p.name}: not executed (no {executed}): shown without outputs")
        elif missing:
            problems.append(f"{p.name}: {missing} code cell(s) changed since {executed} was run: shown without outputs")
        (src_dir / p.name).write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executed", type=Path, default=BUILD / "executed", help="executed notebooks (.ci/execute_nbs.py)")
    ap.add_argument("--out", type=Path, default=BUILD / "site", help="the site (default _build/site)")
    ap.add_argument("--strict", action="store_true", help="fail on a notebook without outputs or a Sphinx warning")
    ap.add_argument("--only", nargs="*", help="a quick look: the index and these notebooks only (stems)")
    a = ap.parse_args(argv)
    start, src_dir = time.time(), BUILD / "site_src"
    problems = stage(a.executed, src_dir, only=a.only)
    for p in problems:
        print("WARNING:", p)
    from sphinx.cmd.build import build_main

    shutil.rmtree(a.out, ignore_errors=True)
    warnings = BUILD / "sphinx_warnings.txt"
    rc = build_main(
        [
            "-b",
            "html",
            "-E",
            "-q",
            "-c",
            str(DOCS),
            "-d",
            str(BUILD / "doctrees"),
            "-w",
            str(warnings),
            str(src_dir),
            str(a.out),
        ]
    )
    warned = [w for w in warnings.read_text().splitlines() if w.strip()] if warnings.exists() else []
    print(
        f"site: {a.out / 'index.html'} ({len(list(src_dir.glob('*.ipynb')))} pages, {time.time() - start:.0f} s); "
        f"{len(warned)} Sphinx warning line(s), {len(problems)} notebook(s) without all outputs"
    )
    if rc != 0 or (a.strict and (warned or problems)):
        print("FAIL: the site build" + (" (--strict: warnings or missing outputs above)" if rc == 0 else ""))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
