#!/usr/bin/env bash
# Installs every Debian package ferrum's build and tests need (idempotent), then builds the CPU preset.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  clang libclang-rt-14-dev clang-format
  libgtest-dev libbenchmark-dev
  nlohmann-json3-dev libpcre2-dev libicu-dev libcurl4-openssl-dev
  libsndfile1-dev libsamplerate0-dev
  python3
)
# Node.js and npm run the server's end-to-end tests with the official openai client. Machines often
# carry their own Node (nvm, NodeSource) that conflicts with Debian's packages: install only if absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ "${1:-}" != "--no-build" ]]; then
  cmake --preset cpu
  cmake --build --preset cpu
fi
