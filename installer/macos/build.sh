#!/usr/bin/env bash
# Build bcviewer.app and a drag-to-Applications dmg on macOS (Apple silicon or Intel; the bundle
# has the architecture of the Python that builds it). From the repository root:
#   python3.11 -m venv .venv-build && . .venv-build/bin/activate
#   python -m pip install ".[bundle]"
#   bash installer/macos/build.sh
# Needs Xcode's command-line tools (iconutil, hdiutil, codesign).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build/macos/bcviewer.iconset
python installer/windows/make_ico.py build/macos/bcviewer.ico   # also writes build/macos/bcviewer.png (256 px)
for s in 16 32 128 256; do
  sips -z $s $s build/macos/bcviewer.png --out "build/macos/bcviewer.iconset/icon_${s}x${s}.png" >/dev/null
done
iconutil -c icns build/macos/bcviewer.iconset -o build/macos/bcviewer.icns
python -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller installer/macos/bcviewer.spec
# Ad-hoc signature so Gatekeeper shows "unidentified developer" (right-click > Open) instead of
# "damaged"; a lab with an Apple Developer ID signs and notarizes here instead (see README).
codesign --force --deep --sign - dist/bcviewer.app
version=$(python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
rm -rf build/macos/dmg && mkdir -p build/macos/dmg
cp -R dist/bcviewer.app build/macos/dmg/ && ln -s /Applications build/macos/dmg/Applications
hdiutil create -volname "bcviewer $version" -srcfolder build/macos/dmg -ov -format UDZO \
  "dist/bcviewer-$version-macos-$(uname -m).dmg"
echo "dmg: dist/bcviewer-$version-macos-$(uname -m).dmg"
