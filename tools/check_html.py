"""Check the built book as a reader meets it: every page loads in a real headless Chromium, every
figure is present and decodes, and no internal link is broken.

    python tools/check_html.py [_build/html]

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


def browser_problems(root: Path, pages: list[Path]) -> tuple[list[str], dict[str, int]]:
    """Load every page in headless Chromium; report pages that fail and figures that do not decode."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
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
            figures[name] = len(images)
            problems += [f"{name}: figure {src} did not load" for src, ok in images if not ok]
    finally:
        driver.quit()
    return problems, figures


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "_build/html").resolve()
    pages = sorted(root.glob("book/*.html"))
    if not pages:
        print(f"no pages under {root}/book: build the book first", file=sys.stderr)
        return 1
    problems = static_problems(root, pages)
    browser, figures = browser_problems(root, pages)
    problems += browser
    for name, n in figures.items():
        print(f"{name}: loaded, {n} figure(s)")
    print(f"{len(pages)} pages, {sum(figures.values())} figures, {len(problems)} problem(s)")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
