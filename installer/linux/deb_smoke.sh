#!/usr/bin/env bash
# Install, check and remove the .deb (installer/linux/build_deb.sh) on this machine, as root:
#
#   sudo bash installer/linux/deb_smoke.sh [dist/bcviewer-cpu_<version>_amd64.deb]
#
#   1. dpkg -i installs it (its Depends must already be met: .ci/run installs the same libraries);
#   2. /usr/bin/bcviewer is on the PATH and runs from another folder: `bcviewer --version`,
#      `bcviewer doctor` exits 0 (offscreen Qt), `bcviewer predict` on the sample it carries
#      (run as root, so that anything the app writes into /opt/bcviewer shows up in step 4);
#   3. the menu entry and the icon are where the desktop looks for them;
#   4. dpkg -r removes it, and every path `dpkg -L` listed before, and /opt/bcviewer itself, is gone;
#      dpkg -P then forgets it.
# A failed check in 2 or 3 is reported and the removal is still tested; exit 1 when anything failed.
# Refuses to run when a bcviewer package is installed already (it would remove it).
set -uo pipefail
cd "$(dirname "$0")/../.."
DEB="${1:-$(ls dist/bcviewer-cpu_*_*.deb 2>/dev/null | head -n 1)}"
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "deb smoke: no .deb (run installer/linux/build_deb.sh)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "deb smoke: run as root (dpkg -i)" >&2; exit 1; }
PACKAGE="$(dpkg-deb --field "$DEB" Package)"
if dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q "ok installed"; then
  echo "deb smoke: $PACKAGE is installed already; not touching it" >&2; exit 1
fi
TMP="$(mktemp -d)"
cleanup() {
  dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q -E "ok (installed|config-files)" && dpkg -P "$PACKAGE" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "deb smoke test FAILED: $*" >&2; exit 1; }
failed=()
bad() { echo "FAILED: $*" >&2; failed+=("$*"); }  # a failed check; the removal is still tested

echo "--- dpkg -i $DEB"
dpkg -i "$DEB" || fail "dpkg -i"
dpkg-query -W -f='${Package} ${Version} ${Architecture} ${Installed-Size} KB\n' "$PACKAGE"
dpkg -L "$PACKAGE" | sort > "$TMP/files"
echo "$(wc -l < "$TMP/files") paths installed"

echo "--- bcviewer from /usr/bin"
cd "$TMP"
export QT_QPA_PLATFORM=offscreen XDG_DATA_HOME="$TMP/user-data" XDG_CACHE_HOME="$TMP/user-cache"
unset BCVIEWER_MODELS BCVIEWER_GENE_MODELS
export PATH=/usr/bin:/bin:/usr/sbin:/sbin  # the system PATH: no virtual environment or version manager in front
[ "$(command -v bcviewer)" = /usr/bin/bcviewer ] || fail "bcviewer on the PATH is $(command -v bcviewer), not /usr/bin/bcviewer"
bcviewer --version || bad "bcviewer --version"
bcviewer doctor; rc=$?
[ "$rc" -eq 0 ] || bad "bcviewer doctor exited $rc"
SAMPLE=/opt/bcviewer/_internal/bcviewer/_data/resources/sample/SOB_M_MC-14-13413-100-003.png
# predict: reported, not required (the CPU bundle predicts once inference runs without PyTorch);
# it runs here so that files it would write into /opt/bcviewer are caught by the removal check.
if bcviewer predict "$SAMPLE" --out "$TMP/predict" --quiet; then echo "predict: ok"; else echo "predict: FAILED (not counted here; see smoke.sh cpu)"; fi
[ -d /opt/bcviewer/_internal/torch ] && bad "the .deb carries PyTorch"
[ -f /usr/share/applications/bcviewer.desktop ] || bad "no menu entry"
[ -f /usr/share/icons/hicolor/scalable/apps/bcviewer.svg ] || bad "no icon"
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate /usr/share/applications/bcviewer.desktop || bad "desktop-file-validate"
fi
cd /

echo "--- dpkg -r $PACKAGE"
dpkg -r "$PACKAGE" || fail "dpkg -r"
left=()
while read -r path; do
  case "$path" in /|/.|/opt|/usr|/usr/bin|/usr/share|/usr/share/applications|/usr/share/doc|/usr/share/icons|/usr/share/icons/hicolor*) continue ;; esac
  [ -e "$path" ] || [ -L "$path" ] && left+=("$path")
done < "$TMP/files"
[ -e /opt/bcviewer ] && left+=("/opt/bcviewer: $(find /opt/bcviewer | head -n 5 | tr '\n' ' ')")
[ "${#left[@]}" -eq 0 ] || fail "dpkg -r left ${#left[@]} paths behind: ${left[*]:0:5}"
dpkg-query -W -f='${Status}\n' "$PACKAGE" 2>/dev/null | grep -q "ok installed" && fail "still installed"
echo "removal: none of the $(wc -l < "$TMP/files") installed paths is left, /opt/bcviewer is gone"
# dpkg -r keeps a package with a postrm in the config-files state; purge forgets it.
dpkg -P "$PACKAGE" >/dev/null || fail "dpkg -P"
[ -z "$(dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -v not-installed)" ] || fail "dpkg still lists $PACKAGE after purge"
[ "${#failed[@]}" -eq 0 ] || fail "${failed[*]}"
echo "deb smoke test passed: $DEB"
