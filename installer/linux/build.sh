#!/usr/bin/env bash
# Build the Linux one-folder bundle with PyInstaller (installer/linux/bcviewer.spec, settings shared
# with Windows and macOS in installer/common.py), add the desktop entry, icon and install script,
# and pack it as dist/bcviewer-<version>-linux-<arch>.tar.gz.
#
#   python3 -m pip install -e ".[bundle]" && bash installer/linux/build.sh
#
# BUNDLE_OUT (default dist) and BUNDLE_WORK (default build/pyinstaller) move the output and the
# work folder; BUNDLE_ARCHIVE=0 skips the tarball. Prints the build time and the sizes.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${BUNDLE_OUT:-dist}"
WORK="${BUNDLE_WORK:-build/pyinstaller}"
start=$(date +%s)
python3 -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$OUT" --workpath "$WORK" \
    installer/linux/bcviewer.spec
cp installer/linux/bcviewer.desktop installer/linux/install.sh resources/icons/bcviewer.svg "$OUT/bcviewer/"
chmod +x "$OUT/bcviewer/install.sh"
built=$(date +%s)
echo "bundle: $OUT/bcviewer, $(du -sm "$OUT/bcviewer" | cut -f1) MB, built in $((built - start)) s"
if [ "${BUNDLE_ARCHIVE:-1}" != "0" ]; then
  version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
  archive="$OUT/bcviewer-$version-linux-$(uname -m).tar.gz"
  # gzip -1: every Linux can unpack it; stronger levels save little on the CUDA libraries, at minutes of CPU.
  tar -C "$OUT" -cf - bcviewer | gzip -1 > "$archive"
  echo "archive: $archive, $(du -sm "$archive" | cut -f1) MB, packed in $(( $(date +%s) - built )) s"
fi
