#!/usr/bin/env bash
# The README's test command: install the package with its test extras, then run the test suite.
# pytest exits 5 when it collects no test; that must fail, not pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
# The HTML report test renders in a real headless browser (Debian's chromium).
command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
  || echo "warning: chromium could not be installed; the browser test will be skipped" >&2
set +e
python3 -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
