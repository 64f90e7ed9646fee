#!/usr/bin/env bash
# Install what the tests need (idempotent), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v packer >/dev/null 2>&1 || need_apt+=(packer)
# A real sshd for the SSH tests (they skip without it).
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    # packer (1.6.6) is only for side-by-side comparison tests, which skip without it.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 || echo "note: could not install ${need_apt[*]}; the tests that compare with Packer will skip"
  fi
fi

# Vagrant, to check that `vagrant box add` takes the boxes kiln makes (its
# recommends would bring libvirt and a kernel; the test needs none of them).
if ! command -v vagrant >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  install_vagrant() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends vagrant >/dev/null 2>&1; }
  install_vagrant || { apt-get update -qq >/dev/null 2>&1; install_vagrant; } || echo "note: could not install vagrant; vagrant box add is not checked"
fi

# qemu, mmdebstrap and xorriso for the qemu builder tests (they skip without them).
./scripts/install-qemu-deps.sh || echo "note: could not install the qemu tools; the qemu tests will skip"

# The moto EC2 server for the amazon-ebs tests (they skip without it).
if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install -q 'moto[server]' >/dev/null 2>&1 || echo "note: could not install moto[server]; the amazon-ebs tests will skip"
fi

# ansible-core for the ansible provisioner's tests (they skip without it).
if ! command -v ansible-playbook >/dev/null 2>&1; then
  python3 -m pip install -q ansible-core >/dev/null 2>&1 || echo "note: could not install ansible-core; the ansible tests will skip"
fi

# HashiCorp's own formatter, for the fmt tests (they skip without it).
if oracle=$(./scripts/hcl-oracle.sh 2>/dev/null) && [ -n "$oracle" ]; then
  export KILN_HCL_ORACLE="$oracle"
fi

# Formatting is rustfmt's defaults, checked first: seconds, no build.
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --all --check || { echo "cargo fmt would change the files above: run cargo fmt"; exit 1; }
else
  echo "note: rustfmt not installed; formatting not checked"
fi
# Clippy at its default lints, every target, warnings as errors.
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --workspace --all-targets --quiet -- -D warnings
else
  echo "note: clippy not installed; lints not checked"
fi

export CHECKPOINT_DISABLE=1
status=0
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast || status=$?
  # How much of the suite a clone tests on its own: the tests that read
  # ../shared are extras, listed only where it is.
  with=$(cargo nextest list --workspace --message-format oneline 2>/dev/null | grep -c . || true)
  without=$(KILN_NO_SHARED=1 cargo nextest list --workspace --message-format oneline 2>/dev/null | grep -c . || true)
  echo "tests: $with with ../shared, $without from the repository alone"
else
  cargo test --workspace --no-fail-fast || status=$?
fi
exit $status
