#!/usr/bin/env python
"""Check the built course site in headless Chromium, offline; exit 1 on any problem.

    python docs/check_site.py [--site _build/site] [--chromium /usr/bin/chromium]

For every page of the site (each notebook's page, the index, search and the general index):
- it loads from the file system with no console error, no uncaught JavaScript exception and no failed request,
  and asks for nothing outside the site (every http(s) request is refused and reported: the site must work offline);
- every image has loaded (`complete` and `naturalWidth > 0`), the jshtml players' frames included;
- every plotly viewer was drawn by plotly.js (an SVG inside each `plotly-graph-div`);
- no output is a Python traceback;
- every link inside the site points to a file that exists, and to an element with that id when it has a `#...`;
- every notebook in nbs/ has its page (unless `--only` is given);
- LinkChecker, when installed (the docs extra), finds no broken internal link from the index.
Then it takes a screenshot of each chapter page scrolled to its first figure from figures/, checks that the figure is
on screen and not blank, and writes them to `_build/site_check/<page>.png`.

Chromium: Debian's `chromium` package (`apt-get install chromium`) at /usr/bin/chromium, driven by Python's
playwright (`playwright install` downloads its own browser from a CDN: not needed, and not possible offline).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
HASHED = re.compile(r"_images/[0-9a-f]{64}\.")
SPECIAL = {"genindex", "search"}  # Sphinx's own pages: checked, but they are not chapters


class _Page(HTMLParser):
    "The ids and the link targets (href, src) of one HTML file."

    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "img", "link", "script", "iframe", "source"):
                self.links.append(a[key])


def parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return p


def broken_links(site: Path) -> list[str]:
    "Links inside the site to a missing file, or to a missing `#id` of an existing page."
    pages = {p: parse(p) for p in sorted(site.rglob("*.html"))}
    problems = []
    for page, parsed in pages.items():
        for link in parsed.links:
            u = urlsplit(link)
            if u.scheme or link.startswith("//") or link.startswith(("mailto:", "javascript:", "data:")):
                continue  # outside the site (not fetched: see the browser check) or inline
            target = (page.parent / unquote(u.path)).resolve() if u.path else page
            where = f"{page.relative_to(site)}: {link}"
            if not target.exists():
                problems.append(f"{where}: no such file")
            elif u.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(u.fragment) not in ids:
                    problems.append(f"{where}: no element with id {u.fragment!r}")
    return problems


def linkchecker(site: Path) -> list[str]:
    """LinkChecker (`linkchecker`, internal links only, offline) from the index: a second opinion on the links.
    As root it runs as `nobody`, so it reads a world-readable copy of the site."""
    exe = shutil.which("linkchecker")
    if exe is None:
        return []  # optional: the link check above covers the same ground, and anchors too
    with tempfile.TemporaryDirectory() as tmp:
        where = site
        if os.geteuid() == 0:
            os.chmod(tmp, 0o755)
            where = Path(shutil.copytree(site, Path(tmp) / "site"))
            for p in [where, *where.rglob("*")]:
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        cmd = [exe, "--no-status", "--no-warnings", "--threads", "2", str(where / "index.html")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode == 0:
        return []
    keep = re.compile(r"^(URL\s+`|Parent URL|Result)")
    found = [f"linkchecker: {line.strip()}" for line in r.stdout.splitlines() if keep.match(line)]
    return found[-60:] or [f"linkchecker failed (exit {r.returncode}): {r.stderr.strip()[-300:]}"]


def find_chromium(given: str | None) -> str:
    for c in (given, os.environ.get("SIGN_NOTES_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if c and Path(c).exists():
            return c
    raise SystemExit("FAIL: no Chromium: apt-get install -y chromium (or give --chromium PATH)")


_PAGE_JS = """() => {
  const imgs = [...document.images];
  return {
    title: document.title,
    h1: !!document.querySelector('h1'),
    images: imgs.length,
    bad_images: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 120)),
    plotly: document.querySelectorAll('div.plotly-graph-div').length,
    plotly_drawn: [...document.querySelectorAll('div.plotly-graph-div')].filter(d => d.querySelector('svg.main-svg'))
      .length,
    tracebacks: document.querySelectorAll('div.cell_output .traceback, div.cell_output .output.error').length,
    outputs: document.querySelectorAll('div.cell_output').length,
  };
}"""


def browser_check(site: Path, chromium: str, shots: Path) -> tuple[list[str], list[str]]:
    "Load every page in headless Chromium -> (problems, one line a page)."
    from playwright.sync_api import sync_playwright

    problems, lines = [], []
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--allow-file-access-from-files"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        for html in sorted(site.glob("*.html")):
            page, seen = ctx.new_page(), []
            name = html.stem

            def remote(route, request, seen=seen):  # playwright passes (route, request)
                seen.append(f"asks for something outside the site: {request.url[:150]}")
                route.abort()

            page.route(lambda url: not url.startswith("file:"), remote)
            page.on("console", lambda m, seen=seen: m.type == "error" and seen.append(f"console error: {m.text[:300]}"))
            page.on("pageerror", lambda e, seen=seen: seen.append(f"JavaScript exception: {str(e)[:300]}"))
            page.on(
                "requestfailed",
                lambda r, seen=seen: r.url.startswith("file:") and seen.append(f"failed to load {r.url[:150]}"),
            )
            t0 = time.time()
            try:
                page.goto(html.as_uri(), wait_until="load", timeout=60_000)
            except Exception as e:  # noqa: BLE001  (a page that never loads is a problem to report, not a crash)
                seen.append(f"did not load: {str(e).splitlines()[0][:200]}")
            page.wait_for_timeout(300)  # the jshtml players and plotly draw right after `load`
            info = page.evaluate(_PAGE_JS)
            if not info["title"] or (name not in SPECIAL and not info["h1"]):
                seen.append("no title or no heading")
            seen += [f"image did not load: {src}" for src in info["bad_images"]]
            if info["plotly_drawn"] != info["plotly"]:
                seen.append(f"{info['plotly'] - info['plotly_drawn']} of {info['plotly']} plotly viewer(s) not drawn")
            if info["tracebacks"]:
                seen.append(f"{info['tracebacks']} output(s) are Python tracebacks")
            shot = ""
            if name not in SPECIAL and name != "index":
                # a figure from figures/ keeps its name in _images/; an output's picture is named by its hash
                figs = [
                    i for i in page.locator("img[src*='_images/']").all() if not HASHED.search(i.get_attribute("src"))
                ]
                fig = figs[0] if figs else None
                if fig is not None:
                    fig.evaluate("e => e.scrollIntoView({block: 'center'})")
                    box = fig.bounding_box()
                    if not box or box["width"] < 10 or box["height"] < 10:
                        seen.append("its first figure is not on screen")
                    else:
                        shot = str(shots / f"{name}.png")
                        page.screenshot(path=shot)
                        colours = len(set(fig.screenshot()[::97]))  # a blank picture has (almost) one colour
                        if colours < 4:
                            seen.append("its first figure looks blank on screen")
            problems += [f"{html.name}: {s}" for s in seen]
            lines.append(
                f"{'ok  ' if not seen else 'FAIL'} {html.name}: {info['images']} images, {info['outputs']} outputs, "
                f"{info['plotly']} plotly, {time.time() - t0:.1f} s" + (f", screenshot {shot}" if shot else "")
            )
            page.close()
        browser.close()
    return problems, lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, default=BUILD / "site")
    ap.add_argument("--shots", type=Path, default=BUILD / "site_check", help="where the screenshots go")
    ap.add_argument("--chromium", help="the Chromium binary (default /usr/bin/chromium, or $SIGN_NOTES_CHROMIUM)")
    ap.add_argument("--only", nargs="*", help="the site was built with --only: do not require every notebook's page")
    a = ap.parse_args(argv)
    start = time.time()
    if not (a.site / "index.html").exists():
        print(f"FAIL: no site at {a.site}: build it with python docs/build.py")
        return 1
    sys.path.insert(0, str(ROOT / "docs"))
    from build import notebooks

    problems = []
    if a.only is None:
        problems += [
            f"{p.name}: no page {p.stem}.html" for p in notebooks() if not (a.site / f"{p.stem}.html").exists()
        ]
    problems += broken_links(a.site) + linkchecker(a.site)
    browser_problems, lines = browser_check(a.site, find_chromium(a.chromium), a.shots)
    print("\n".join(lines))
    problems += browser_problems
    for p in problems:
        print("PROBLEM:", p)
    n = len(list(a.site.glob("*.html")))
    print(f"site check: {n} pages, {len(problems)} problem(s), {time.time() - start:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
