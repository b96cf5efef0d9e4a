#!/usr/bin/env bash
# The Python package's tests, as CI runs them after scripts/test.sh default (which built
# build/bin/bitnet, the CLI the tests compare with):
#  1. one wheel (`pip wheel .`: libbitnet compiled once into bitnet._core; nothing else built),
#  2. that wheel installed into the project's .venv, python/tests run with pytest,
#  3. the same wheel installed into a fresh virtualenv and python/tests/smoke.py run from outside
#     the source tree.
# Usage: scripts/test-python.sh   (BITNET_FIXTURES, BITNET_BIN override the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scripts/install-deps.sh
export BITNET_FIXTURES=${BITNET_FIXTURES:-$root/../shared/fixtures}
export BITNET_BIN=${BITNET_BIN:-$root/build/bin/bitnet}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}

start=$(date +%s)
rm -rf build/wheelhouse
# --no-build-isolation: scikit-build-core and nanobind come pinned from requirements-test.txt.
.venv/bin/python -m pip wheel . -w build/wheelhouse --no-deps --no-build-isolation \
  --disable-pip-version-check -q
wheel=$(ls build/wheelhouse/bitnet-*.whl)
echo "test-python: built $wheel in $(( $(date +%s) - start )) s"

.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
(cd "$root/python/tests" && "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider .)

smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
python3 -m venv "$smoke/venv"
"$smoke/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
cp python/tests/smoke.py "$smoke/"
(cd "$smoke" && "$smoke/venv/bin/python" smoke.py "$BITNET_FIXTURES/tiny-b158-i2s.gguf")
echo "test-python: finished in $(( $(date +%s) - start )) s"
