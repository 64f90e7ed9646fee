#!/usr/bin/env bash
# Build HashiCorp's formatter (the Go route of ../shared/oracle) outside the
# repository, for the fmt tests that compare kiln with it. Idempotent; does
# nothing when ../shared or Debian's Go packages are not available.
# Prints the path of the binary on success.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/../shared/oracle/go/hclfmt-go/main.go"
out="${KILN_HCL_ORACLE_DIR:-/var/tmp/kiln-hcl-oracle}"
[ -f "$src" ] || exit 0
if [ -x "$out/hclfmt-go" ] && [ "$out/hclfmt-go" -nt "$src" ]; then echo "$out/hclfmt-go"; exit 0; fi
deb=/usr/share/gocode/src/github.com/hashicorp/hcl/v2
if ! command -v go >/dev/null 2>&1 || [ ! -d "$deb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go golang-github-hashicorp-hcl-v2-dev >/dev/null 2>&1 || true
  fi
fi
command -v go >/dev/null 2>&1 && [ -d "$deb" ] || exit 0
mkdir -p "$out/gopath/src/hclfmt-go"
cp "$src" "$out/gopath/src/hclfmt-go/main.go"
GO111MODULE=off GOFLAGS= GOCACHE="$out/gocache" CGO_ENABLED=0 GOPATH="$out/gopath:/usr/share/gocode" \
  go build -trimpath -o "$out/hclfmt-go" hclfmt-go >&2
echo "$out/hclfmt-go"
