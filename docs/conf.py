"""Sphinx configuration of the course site. Build it with `python docs/build.py` (see there), not sphinx-build alone:
build.py first copies the executed notebooks into `_build/site_src` and prepares them for a static page."""

import shutil
from pathlib import Path

project = "sign_notes"
author = "sign_notes developers"
copyright = "2026 onwards, sign_notes developers"

extensions = ["myst_nb"]
root_doc = "index"
nb_execution_mode = "off"  # the notebooks were executed once, by .ci/execute_nbs.py (which is also their test)
nb_merge_streams = True
myst_heading_anchors = 3  # `[..](03_viz.ipynb#a-heading)` links resolve to the heading
nb_ipywidgets_js = {}  # no widget manager from a CDN: the site is offline (a live widget needs a kernel anyway)
suppress_warnings = ["myst.header"]  # a heading level skipped (e.g. in a Markdown output) is no broken content
html_copy_source = False
html_show_sourcelink = False
html_theme = "alabaster"  # comes with Sphinx: nothing more to install, nothing fetched
html_title = "sign_notes"
html_theme_options = {
    "description": "A Jupyter-first course on recognising signs and actions from skeleton landmarks.",
    "page_width": "1200px",
    "sidebar_width": "270px",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_css_files = ["site.css"]
html_static_path = [str(Path(__file__).parent / "_static")]


def _copy_plotly(app, exc):
    "plotly.js from the installed plotly package into _static/, for the viewers (build.py points them at it)."
    if exc is None and app.builder.format == "html":
        import plotly

        src = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        shutil.copyfile(src, Path(app.outdir) / "_static" / "plotly.min.js")


def setup(app):
    app.connect("build-finished", _copy_plotly)
