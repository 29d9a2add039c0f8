#!/usr/bin/env sh
# Install an unpacked bcviewer bundle for every user of this machine (run as root from inside the
# unpacked bcviewer/ folder), or for one user with PREFIX=$HOME/.local/opt sh install.sh.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${PREFIX:-/opt}"
if [ "$PREFIX" = "/opt" ]; then BIN=/usr/local/bin; SHARE=/usr/share; else BIN="$HOME/.local/bin"; SHARE="$HOME/.local/share"; fi
mkdir -p "$PREFIX" "$BIN" "$SHARE/applications" "$SHARE/icons/hicolor/scalable/apps"
if [ "$HERE" != "$PREFIX/bcviewer" ]; then rm -rf "$PREFIX/bcviewer"; cp -a "$HERE" "$PREFIX/bcviewer"; fi
ln -sf "$PREFIX/bcviewer/bcviewer" "$BIN/bcviewer"
cp "$HERE/bcviewer.desktop" "$SHARE/applications/bcviewer.desktop"
cp "$HERE/bcviewer.svg" "$SHARE/icons/hicolor/scalable/apps/bcviewer.svg"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$SHARE/applications" || true
echo "bcviewer installed in $PREFIX/bcviewer; run 'bcviewer doctor' to check it"
