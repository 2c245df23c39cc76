#!/usr/bin/env bash
# Refresh constraints.txt: the exact version of every package the project installs (setup.cfg's
# dependencies and all its extras, for Python 3.11), resolved by uv (the dev extra installs it).
# After refreshing, reinstall (.venv/bin/pip install -c constraints.txt -e '.[dev]') and run the
# tests on both databases before committing: the lock is what CI and the README install.
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-.venv/bin/uv}"
"$uv" pip compile setup.cfg --extra dev --extra test --extra postgresql --python-version 3.11 \
  --annotation-style line --no-header --quiet "$@" -o constraints.in.tmp
{
  echo "# The exact versions the tests pass with: pip install -c constraints.txt -e '.[test]' (README)."
  echo "# Made by uv from setup.cfg with tools/lock.sh (--upgrade to move to the newest releases)."
  cat constraints.in.tmp
} > constraints.txt
rm -f constraints.in.tmp
