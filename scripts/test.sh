#!/usr/bin/env bash
# The whole test suite: lint + format check, the core's tests and every plugin's own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ruff check .
ruff format --check .
python -m pytest tests plugins/*/tests "$@"
