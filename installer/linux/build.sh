#!/usr/bin/env bash
# Build a Linux one-folder bundle with PyInstaller (installer/linux/bcviewer.spec, settings shared
# with Windows and macOS in installer/common.py), add the desktop entry, icon and install script,
# and pack it as a tarball:
#
#   bash installer/linux/build.sh cpu    # dist/bcviewer-cpu/, dist/bcviewer-cpu-<version>-linux-<arch>.tar.gz
#   bash installer/linux/build.sh full   # dist/bcviewer/,     dist/bcviewer-<version>-linux-<arch>.tar.gz (default)
#
# cpu: no PyTorch, torchvision, CUDA or triton (inference on ONNX Runtime); full: PyTorch (the CUDA
# build from PyPI) for training, the torch runtime and NVIDIA GPUs. Both from the same environment
# (python3 -m pip install -e ".[bundle]"): the CPU flavour leaves torch out by its excludes.
# BUNDLE_OUT (default dist) and BUNDLE_WORK (default build/pyinstaller-<flavour>) move the output
# and the work folder; BUNDLE_ARCHIVE=0 skips the tarball. Prints the build time and the sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
FLAVOUR="${1:-full}"
case "$FLAVOUR" in
  full) NAME=bcviewer ;;
  cpu) NAME=bcviewer-cpu ;;
  *) echo "usage: build.sh [full|cpu]" >&2; exit 2 ;;
esac
OUT="${BUNDLE_OUT:-dist}"
WORK="${BUNDLE_WORK:-build/pyinstaller-$FLAVOUR}"
start=$(date +%s)
python3 -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$OUT" --workpath "$WORK" \
    installer/linux/bcviewer.spec -- --flavour "$FLAVOUR"
cp installer/linux/bcviewer.desktop installer/linux/install.sh resources/icons/bcviewer.svg "$OUT/$NAME/"
chmod +x "$OUT/$NAME/install.sh"
built=$(date +%s)
echo "bundle ($FLAVOUR): $OUT/$NAME, $(du -sm "$OUT/$NAME" | cut -f1) MB, built in $((built - start)) s"
if [ "${BUNDLE_ARCHIVE:-1}" != "0" ]; then
  version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
  archive="$OUT/$NAME-$version-linux-$(uname -m).tar.gz"
  # full: gzip -1 (stronger levels save little on the CUDA libraries, at minutes of CPU); cpu: gzip -6
  # (measured on the CPU bundle: -6 289 MB in about a minute, -9 only 6 MB less in three).
  level=1; [ "$FLAVOUR" = cpu ] && level=6
  tar -C "$OUT" -cf - "$NAME" | gzip "-$level" > "$archive"
  echo "archive: $archive, $(du -sm "$archive" | cut -f1) MB, packed in $(( $(date +%s) - built )) s"
fi
