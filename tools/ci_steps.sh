#!/usr/bin/env bash
# The steps around the README's install-and-build line that both .ci/run and the publishing
# workflow (.github/workflows/book.yml) run, in one place, so that the two cannot drift
# (tests/test_publishing.py checks that they run the same steps, in the same order).
#
#   tools/ci_steps.sh repository  # in GitHub Actions: the buttons link to the repository it runs in
#   tools/ci_steps.sh browser     # Debian's Chromium and chromedriver, for the browser check
#   tools/ci_steps.sh check       # the built book in headless Chromium (tools/check_html.py)
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
repository)
    if [ -n "${GITHUB_REPOSITORY:-}" ]; then  # set by GitHub Actions only: elsewhere a no-op
        sed -i "/^repository:/,/^[^ ]/ s#^  url: .*#  url: https://github.com/$GITHUB_REPOSITORY#" \
            _config.yml
    fi
    ;;
browser)
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    ;;
check)
    python tools/check_html.py _build/html
    ;;
*)
    echo "usage: tools/ci_steps.sh repository|browser|check" >&2
    exit 2
    ;;
esac
