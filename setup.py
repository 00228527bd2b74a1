"""Packaging for sign_notes, driven by settings.ini (nbdev 2 style).

Extras: `[tf]` (TensorFlow chapters), `[paddle]` (PaddlePaddle chapters), `[lab]` (JupyterLab and nbconvert, to open
and run the notebooks: `pip install -e ".[tf,lab]"`), `[dev]` (both frameworks, plus nbdev and the test tools).
"""

from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]


def reqs(key):
    return cfg.get(key, "").split()


readme = Path(__file__).parent / "README.md"
setuptools.setup(
    name=cfg["lib_name"].replace("_", "-"),
    version=cfg["version"],
    description=cfg["description"],
    long_description=readme.read_text(encoding="utf-8") if readme.exists() else cfg["description"],
    long_description_content_type="text/markdown",
    author=cfg["author"],
    author_email=cfg["author_email"],
    url=cfg["git_url"],
    license="Apache-2.0",
    keywords=cfg["keywords"],
    packages=setuptools.find_packages(include=["sign_notes", "sign_notes.*"]),
    include_package_data=True,
    python_requires=">=" + cfg["min_python"],
    install_requires=reqs("requirements"),
    extras_require={
        "tf": reqs("tf_requirements"),
        "paddle": reqs("paddle_requirements"),
        "seti": reqs("seti_requirements"),
        "docs": reqs("docs_requirements"),
        "lab": reqs("lab_requirements"),
        "dev": reqs("dev_requirements"),
    },
    entry_points={
        "console_scripts": cfg["console_scripts"].split(),
        "nbdev": [f"{cfg['lib_name']}={cfg['lib_name']}._modidx:d"],
    },
    zip_safe=False,
)
