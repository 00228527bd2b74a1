"""Write README.md from nbs/index.ipynb (nbdev's `readme_nb`).

nbdev 2's own `nbdev_readme` needs Quarto, which is not a Python package; this does the same job for our
index notebook: markdown cells verbatim, visible code cells as ```python blocks with their text output,
`#| hide` and `#| eval: false` cells left out. The index links its chapters as `03_viz.ipynb` and figures as
`../figures/...`, so the links work where the notebook lies (JupyterLab, the site); the README, one folder up, gets
them as `nbs/03_viz.ipynb` and `figures/...`. A `benchmarks/summary.md` (written by `benchmarks/summary.py`) is
appended as the speed table. CI fails when README.md is not what this writes.
"""

import json, re
from configparser import ConfigParser
from pathlib import Path

root = Path(__file__).resolve().parent.parent
cfg = ConfigParser(delimiters=["="])
cfg.read(root / "settings.ini")
nb = json.loads((root / cfg["DEFAULT"]["nbs_path"] / cfg["DEFAULT"]["readme_nb"]).read_text())
out = ["<!-- generated from nbs/index.ipynb by .ci/make_readme.py: edit the notebook, not this file -->", ""]
for cell in nb["cells"]:
    src = "".join(cell["source"]).rstrip()
    if cell["cell_type"] == "markdown":
        out += [src, ""]
    elif cell["cell_type"] == "code":
        lines = src.splitlines()
        directives = [line for line in lines if re.match(r"^#\|", line)]
        if any(re.match(r"^#\|\s*(hide|eval:\s*false|export|default_exp)", d) for d in directives):
            continue
        code = "\n".join(line for line in lines if not re.match(r"^#\|", line)).strip()
        if code:
            out += ["```python", code, "```", ""]
        text = "".join(
            "".join(o.get("text", "")) or "".join(o.get("data", {}).get("text/plain", ""))
            for o in cell.get("outputs", [])
        )
        if text.strip():
            out += ["```", text.rstrip(), "```", ""]
summary = root / "benchmarks" / "summary.md"
if summary.exists():
    out += [summary.read_text().rstrip(), ""]


def _from_root(line: str) -> str:
    "A link relative to nbs/ (a chapter or ../ something), rewritten relative to the repository root."
    line = re.sub(r"\]\((?!https?:|#|/)([^)\s]+\.ipynb)", r"](nbs/\1", line)
    return re.sub(r"\]\(\.\./", "](", line)


out = [_from_root(line) for line in out]
(root / "README.md").write_text("\n".join(out).rstrip() + "\n")
