#!/usr/bin/env bash
# Installs what bitnet-cxx needs to build and test on Debian 12. Idempotent: when everything is
# already there it only checks and returns within a second or two.
# Usage: scripts/install-deps.sh [--aarch64]
#   --aarch64: also the ARM64 cross toolchain, qemu-user and the arm64 multiarch -dev packages the
#              aarch64 preset links (scripts/test-aarch64.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
aarch64=0
for arg in "$@"; do
  case "$arg" in
    --aarch64) aarch64=1 ;;
    *) echo "install-deps: unknown option $arg (expected --aarch64)" >&2; exit 2 ;;
  esac
done

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libpcre2-dev libomp-dev
  clang-14 libclang-rt-14-dev
  b3sum tmux python3-venv
  chromium chromium-driver fonts-dejavu-core
  libcpp-httplib-dev nginx
)
if ((aarch64)); then
  # CLI11 and nlohmann-json are headers in /usr/share and serve both architectures.
  APT_PACKAGES+=(g++-aarch64-linux-gnu qemu-user
                 libgtest-dev:arm64 libbenchmark-dev:arm64 libpcre2-dev:arm64 libcpp-httplib-dev:arm64 libgomp1:arm64)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if ((aarch64)) && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python test peers, pinned, in a project-local virtualenv (.venv, git-ignored).
PY=${PYTHON:-python3}
stamp=.venv/.requirements-test.sha
want=$(sha256sum requirements-test.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: creating .venv with requirements-test.txt"
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
  echo "$want" >"$stamp"
fi
echo "install-deps: ok"
