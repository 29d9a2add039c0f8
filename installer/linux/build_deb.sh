#!/usr/bin/env bash
# Package the CPU bundle (installer/linux/build.sh cpu) as a Debian/Ubuntu .deb with dpkg-deb:
#
#   bash installer/linux/build_deb.sh [BUNDLE_DIR]   # default dist/bcviewer-cpu
#   -> dist/bcviewer-cpu_<version>_amd64.deb
#
# Payload: the bundle in /opt/bcviewer, /usr/bin/bcviewer (a symlink to its executable), the menu
# entry in /usr/share/applications and the icon in /usr/share/icons/hicolor/scalable/apps. No
# maintainer scripts for the menu or the icon cache: desktop-file-utils and the icon-cache tools
# update those through their dpkg triggers on the two folders. postrm removes what the app may
# have written inside /opt/bcviewer at run time (byte code, ONNX caches next to the shipped
# weights when run as root), so that `dpkg -r` leaves no file behind.
# Depends: what the bundle's libraries load from the system (ldd over every ELF file in it): glibc
# 2.36 (libpython and libstdc++ were built against it), and the GL, EGL, xcb and DRM libraries that
# PyInstaller never copies into a bundle; every other library Qt needs (xcb-cursor, xkbcommon,
# fontconfig, dbus, ...) travels inside it. Recommends: what Qt's Wayland plugin loads.
# DEB_MAINTAINER sets the Maintainer field; DEB_OUT (default dist) the output folder;
# DEB_COMPRESSION xz (default) or gzip.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUNDLE="${1:-dist/bcviewer-cpu}"
OUT="${DEB_OUT:-dist}"
[ -x "$BUNDLE/bcviewer" ] || { echo "build_deb: no bundle at $BUNDLE (run installer/linux/build.sh cpu first)" >&2; exit 1; }
[ ! -d "$BUNDLE/_internal/torch" ] || { echo "build_deb: $BUNDLE carries PyTorch; the .deb is made from the CPU bundle" >&2; exit 1; }
version=$(python3 -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
arch=$(dpkg --print-architecture)
package=bcviewer-cpu
deb="$OUT/${package}_${version}_${arch}.deb"
start=$(date +%s)
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
ROOTFS="$STAGE/$package"
mkdir -p "$ROOTFS/DEBIAN" "$ROOTFS/opt" "$ROOTFS/usr/bin" "$ROOTFS/usr/share/applications" \
  "$ROOTFS/usr/share/icons/hicolor/scalable/apps"
cp -a "$BUNDLE" "$ROOTFS/opt/bcviewer"
# The menu entry, icon and tarball installer live in their system places (or not at all) in a .deb.
rm -f "$ROOTFS/opt/bcviewer/install.sh" "$ROOTFS/opt/bcviewer/bcviewer.desktop" "$ROOTFS/opt/bcviewer/bcviewer.svg"
find "$ROOTFS/opt/bcviewer" -name __pycache__ -type d -prune -exec rm -rf {} +
ln -s /opt/bcviewer/bcviewer "$ROOTFS/usr/bin/bcviewer"
install -m 0644 installer/linux/bcviewer.desktop "$ROOTFS/usr/share/applications/bcviewer.desktop"
install -m 0644 resources/icons/bcviewer.svg "$ROOTFS/usr/share/icons/hicolor/scalable/apps/bcviewer.svg"
mkdir -p "$ROOTFS/usr/share/doc/$package"
install -m 0644 installer/README.md "$ROOTFS/usr/share/doc/$package/README.md"
chmod -R u+rwX,go+rX,go-w "$ROOTFS"

installed_kb=$(du -sk --exclude=DEBIAN "$ROOTFS" | cut -f1)
cat > "$ROOTFS/DEBIAN/control" <<EOF
Package: $package
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-bcviewer maintainers <bcviewer-maintainers@example.org>}
Installed-Size: $installed_kb
Section: science
Priority: optional
Provides: bcviewer
Conflicts: bcviewer
Replaces: bcviewer
Depends: libc6 (>= 2.36), libegl1, libgl1, libxcb1, libdrm2
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1
Description: breast-cancer histopathology viewer (CPU bundle, no PyTorch)
 bcviewer opens BreakHis microscopy images and whole-slide images and paints a
 per-tile malignancy heatmap; it predicts from the command line (bcviewer
 predict), exports CSV/GeoJSON/PNG, runs the labeling panel with its
 self-learning loop and the gene-expression models.
 .
 This package is the self-contained CPU bundle: its own Python, Qt, OpenSlide,
 ONNX Runtime and the shipped models in /opt/bcviewer, without PyTorch or CUDA
 (inference runs on ONNX Runtime on the CPU; training needs the full install).
 Check an install with 'bcviewer doctor'.
EOF
cat > "$ROOTFS/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# Files the app writes inside its own folder at run time (byte code; ONNX caches next to the
# shipped weights when run as root) belong to no package: remove them with the package.
set -e
case "$1" in
  remove|purge)
    if [ -d /opt/bcviewer ]; then
      find /opt/bcviewer \( -name '__pycache__' -o -name 'weights.onnx' -o -name 'weights.onnx.json' \) -prune \
        -exec rm -rf {} + 2>/dev/null || true
      find /opt/bcviewer -depth -type d -empty -delete 2>/dev/null || true
    fi
    ;;
esac
exit 0
EOF
chmod 0755 "$ROOTFS/DEBIAN/postrm"
mkdir -p "$OUT"
# xz -6 (dpkg-deb's default): 214 MB against gzip's 289 MB, at about 6 CPU minutes against one.
# CI, which throws the package away, sets DEB_COMPRESSION=gzip.
case "${DEB_COMPRESSION:-xz}" in
  xz) dpkg-deb --root-owner-group -Zxz -z6 --build "$ROOTFS" "$deb" >/dev/null ;;
  gzip) dpkg-deb --root-owner-group -Zgzip -z6 --build "$ROOTFS" "$deb" >/dev/null ;;
  *) echo "build_deb: DEB_COMPRESSION is xz or gzip" >&2; exit 2 ;;
esac
echo "deb: $deb, $(du -sm "$deb" | cut -f1) MB (installed $((installed_kb / 1024)) MB), packed in $(( $(date +%s) - start )) s"
