#!/usr/bin/env bash
# Install what the qemu builder and the quick start need, idempotently:
# qemu-system-x86 and qemu-img, mmdebstrap (the kiln-debian-base data
# source), xorriso (cd_files / cd_content). Debian/Ubuntu, as root.
set -euo pipefail

missing=0
for t in qemu-system-x86_64 qemu-img mmdebstrap xorriso mkfs.ext4; do
  command -v "$t" >/dev/null 2>&1 || missing=1
done
[ "$missing" = 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: qemu, mmdebstrap and xorriso are needed; install them as root (Debian: qemu-system-x86 qemu-utils mmdebstrap xorriso)" >&2
  exit 1
fi

target=()
# A qemu-utils from backports (as some machines have) needs qemu-system-x86
# from the same suite, or apt removes it: add that suite from the host's own
# Debian source, whatever mirror it names.
if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q '~bpo'; then
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ -n "$suite" ] && ! grep -rqs "$suite-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      awk -v s="$suite" 'BEGIN{RS="";ORS="\n\n"} $0 ~ ("Suites:[^\n]*" s "([ \n]|$)") && $0 !~ /security/ {sub(/Suites:[^\n]*/, "Suites: " s "-backports"); print; exit}' \
        /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/kiln-backports.sources
    elif [ -f /etc/apt/sources.list ]; then
      awk -v s="$suite" '$1 == "deb" && $3 == s {$3 = s "-backports"; print; exit}' /etc/apt/sources.list > /etc/apt/sources.list.d/kiln-backports.list
    fi
  fi
  [ -n "$suite" ] && target=(-t "$suite-backports")
fi
apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${target[@]}" \
  qemu-system-x86 qemu-utils mmdebstrap xorriso e2fsprogs >/dev/null
