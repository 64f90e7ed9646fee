#!/usr/bin/env bash
# The README's first command: install what the quick start needs, build
# kiln, and build templates/quickstart.pkr.hcl — a Debian image with nginx,
# made in a local VM (no cloud account). Run as root (mmdebstrap builds the
# base system once; later runs reuse it from ~/.cache/kiln).
#
# `-reuse`: a run whose inputs (template, index.html, base image, kiln) are
# those of the image already in output/quickstart reuses it and finishes in
# seconds; any change rebuilds it (docs/incremental.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-qemu-deps.sh
cargo build --release
flags=(-reuse)
# An output directory kiln made without a record of its inputs (an older
# kiln) is replaced once.
if [ -d output/quickstart ] && [ ! -f output/quickstart/kiln-inputs.json ]; then
  flags+=(-force)
fi
exec "${CARGO_TARGET_DIR:-target}/release/kiln" build "${flags[@]}" "$@" templates/quickstart.pkr.hcl
