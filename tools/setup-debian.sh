#!/usr/bin/env bash
# Installs everything pyhv needs on a fresh Debian 12 (bookworm) machine:
#   - QEMU >= 9 from bookworm-backports (qemu-system-aarch64 with -M raspi4b, qemu-aarch64 user mode)
#   - the AArch64 cross toolchain (gcc-aarch64-linux-gnu)
#   - the arm64 architecture, so the guest kernel and busybox can be fetched with apt-get download
#   - the Python packages (pyhv itself, editable, with its test extras)
# Idempotent: a second run only checks. Needs root (or sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
stamp="$here/build/.setup-done"

need_apt=0
command -v qemu-system-aarch64 >/dev/null || need_apt=1
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || need_apt=1
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt=1
command -v cpio >/dev/null || need_apt=1
command -v dtc >/dev/null || need_apt=1
command -v tshark >/dev/null || need_apt=1
dpkg --print-foreign-architectures | grep -qx arm64 || need_apt=1

if [ "$need_apt" = 1 ]; then
  echo "pyhv setup: installing Debian packages (QEMU from bookworm-backports, cross gcc)..."
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/pyhv-backports.list >/dev/null
  fi
  $SUDO dpkg --add-architecture arm64
  # Third-party sources on some images are unreachable; only Debian's matter to us.
  $SUDO apt-get update -q -o Acquire::Retries=3 || echo "pyhv setup: apt-get update reported errors (continuing; Debian suites are what we need)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    -t bookworm-backports qemu-system-arm qemu-user
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu cpio device-tree-compiler file tshark
fi

# The editable install must point at THIS checkout (CI clones into a fresh folder).
installed=$(cd / && python3 -c "import lark, interegular, mypy, pycparser, keystone, pytest, hypothesis, pyhv, os; print(os.path.dirname(os.path.dirname(pyhv.__file__)))" 2>/dev/null || true)
if [ "$installed" != "$here" ]; then
  echo "pyhv setup: installing Python packages (pyhv editable from $here)..."
  python3 -m pip install -q --disable-pip-version-check -e "$here[test]"
fi
mkdir -p "$here/build"
touch "$stamp"
echo "pyhv setup: ok ($(qemu-system-aarch64 --version | head -1); $(aarch64-linux-gnu-gcc --version | head -1))"
