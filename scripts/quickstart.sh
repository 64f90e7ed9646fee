#!/usr/bin/env bash
# The README's first command: install what the quick start needs, build
# kiln, and build templates/quickstart.pkr.hcl — a Debian image with nginx,
# made in a local VM (no cloud account). Run as root (mmdebstrap builds the
# base system once; later runs reuse it from ~/.cache/kiln).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-qemu-deps.sh
cargo build --release
exec "${CARGO_TARGET_DIR:-target}/release/kiln" build -force "$@" templates/quickstart.pkr.hcl
