#!/usr/bin/env bash
# The steps that install, build and check the book, in one place: .ci/run and the publishing
# workflow (.github/workflows/book.yml) both call them, so that the two cannot drift
# (tests/test_publishing.py checks that they call the same steps, in the same order).
#
#   tools/ci_steps.sh install   # the README's install line
#   tools/ci_steps.sh browser   # Debian's Chromium and chromedriver, for the browser check
#   tools/ci_steps.sh book      # build _build/html, warnings as errors
#   tools/ci_steps.sh check     # the built book in headless Chromium (tools/check_html.py)
set -euo pipefail
cd "$(dirname "$0")/.."

# The README's install command, word for word (tests/test_publishing.py checks it)
INSTALL='pip install -r requirements.txt -e .'

case "${1:-}" in
install)
    python -m $INSTALL --quiet
    ;;
browser)
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    ;;
book)
    if [ -n "${GITHUB_REPOSITORY:-}" ]; then  # in GitHub Actions: link the repository it runs in
        sed -i "/^repository:/,/^[^ ]/ s#^  url: .*#  url: https://github.com/$GITHUB_REPOSITORY#" \
            _config.yml
    fi
    jupyter-book build . --warningiserror --nitpick --keep-going
    ;;
check)
    python tools/check_html.py _build/html
    ;;
*)
    echo "usage: tools/ci_steps.sh install|browser|book|check" >&2
    exit 2
    ;;
esac
