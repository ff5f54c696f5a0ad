"""Check the built book as a reader meets it: every page loads in a real headless Chromium without
a console error, every figure is present and decodes, every kernel-free explorer's slider moves
(by the keyboard) and changes its figure, and no internal link is broken.

    python tools/check_html.py [_build/html] [--screenshots DIR]

With --screenshots, each explorer is saved as DIR/<page>-<k>-<step>.png before and after each move.

Exits 1 listing every problem. Needs Debian's chromium and chromium-driver, and selenium.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM_FLAGS = [  # no network here: keep Chromium from trying to reach any service of its own
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,2000",
]  # fmt: skip

# Images that decoded (naturalWidth > 0) among those in the page's main content
IMAGES_JS = """
const imgs = Array.from(document.querySelectorAll('main img, article img, .bd-content img'));
return imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);
"""

# Each explorer's sliders (sparselab/book/static_explorer.py), with the figure each one drives
EXPLORERS_JS = """
return Array.from(document.querySelectorAll('.sl-explorer')).map(e =>
  [e, e.querySelector('img.sl-explorer-view'), Array.from(e.querySelectorAll('input[type=range]'))]);
"""
VIEW_JS = "const i = arguments[0]; return [i.src, i.complete && i.naturalWidth > 0, i.alt];"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def static_problems(root: Path, pages: list[Path]) -> list[str]:
    """Internal links whose file or anchor is missing, and image files that do not exist."""
    problems, parsed = [], {}
    for page in pages:
        info = parsed.setdefault(page, _parse(page))
        for href in info.links:
            url = urlsplit(href)
            if url.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{page.relative_to(root)}: broken link {href}")
            elif url.fragment and target.suffix == ".html":
                ids = parsed.setdefault(target, _parse(target)).ids
                if unquote(url.fragment) not in ids:
                    problems.append(f"{page.relative_to(root)}: missing anchor {href}")
        for src in info.images:
            if not urlsplit(src).scheme and not (page.parent / unquote(src)).is_file():
                problems.append(f"{page.relative_to(root)}: missing image {src}")
    return problems


def explorer_problems(driver, name: str, shots: Path | None = None) -> tuple[list[str], int]:
    """Move every slider of every explorer on the page one step with the keyboard (back where it
    is at its end); each move must change the figure to one that decodes and say its value."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    problems, moved = [], 0
    stem = Path(name).stem
    for k, (explorer, view, sliders) in enumerate(driver.execute_script(EXPLORERS_JS)):
        if not sliders:
            problems.append(f"{name}: explorer {k} has no slider")
        for j, slider in enumerate(sliders):
            label = f"{name}: explorer {k}, slider {slider.get_attribute('data-label')}"
            before = driver.execute_script(VIEW_JS, view)
            said = slider.get_attribute("aria-valuetext")
            at_end = slider.get_attribute("value") == slider.get_attribute("max")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", explorer)
            if shots and j == 0:
                explorer.screenshot(str(shots / f"{stem}-{k}-start.png"))
            slider.send_keys(Keys.ARROW_LEFT if at_end else Keys.ARROW_RIGHT)
            try:
                WebDriverWait(driver, 5).until(
                    lambda d, b=before, i=view: (
                        (v := d.execute_script(VIEW_JS, i))[0] != b[0] and v[1]
                    )
                )
            except Exception:
                problems.append(f"{label}: moving it did not change its figure")
                continue
            if slider.get_attribute("aria-valuetext") == said:
                problems.append(f"{label}: moved, but its aria-valuetext still says {said!r}")
            if driver.execute_script(VIEW_JS, view)[2] == before[2]:
                problems.append(f"{label}: moved, but the figure's alt text did not change")
            moved += 1
            if shots:
                explorer.screenshot(str(shots / f"{stem}-{k}-moved{j}.png"))
    return problems, moved


def browser_problems(
    root: Path, pages: list[Path], shots: Path | None = None
) -> tuple[list[str], dict[str, tuple[int, int]]]:
    """Load every page in headless Chromium; report pages that fail, console errors, figures that
    do not decode and explorers whose sliders do nothing. Returns the problems and, per page,
    (figures, sliders moved)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(60)
    problems, figures = [], {}
    try:
        for page in pages:
            name = str(page.relative_to(root))
            driver.get(page.as_uri())
            if not driver.find_elements("css selector", "main, article"):
                problems.append(f"{name}: the page did not render its content")
                continue
            images = driver.execute_script(IMAGES_JS)
            problems += [f"{name}: figure {src[:80]} did not load" for src, ok in images if not ok]
            found, moved = explorer_problems(driver, name, shots)
            problems += found
            figures[name] = (len(images), moved)
            problems += [
                f"{name}: console {entry['level']}: {entry['message'][:300]}"
                for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE"
            ]
    finally:
        driver.quit()
    return problems, figures


def main(argv: list[str]) -> int:
    shots = None
    if "--screenshots" in argv:
        i = argv.index("--screenshots")
        shots = Path(argv[i + 1])
        shots.mkdir(parents=True, exist_ok=True)
        argv = argv[:i] + argv[i + 2 :]
    root = Path(argv[0] if argv else "_build/html").resolve()
    pages = sorted(root.glob("book/*.html"))
    if not pages:
        print(f"no pages under {root}/book: build the book first", file=sys.stderr)
        return 1
    problems = static_problems(root, pages)
    browser, figures = browser_problems(root, pages, shots)
    problems += browser
    for name, (n, moved) in figures.items():
        print(f"{name}: loaded, {n} figure(s), {moved} explorer slider(s) moved")
    n_figures = sum(n for n, _ in figures.values())
    n_moved = sum(m for _, m in figures.values())
    print(
        f"{len(pages)} pages, {n_figures} figures, {n_moved} sliders moved, {len(problems)} problem(s)"
    )
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
