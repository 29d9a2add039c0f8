#!/usr/bin/env bash
# Smoke test of a built Linux bundle, headless:
#  1. `bcviewer predict` on the sample carried inside the bundle gives the same per-tile
#     probabilities as the source install (python3 -m bcviewer from this checkout);
#  2. `bcviewer open --run --screenshot` under QT_QPA_PLATFORM=offscreen writes a non-blank PNG;
#  3. `bcviewer doctor` finds every shipped model with a good sha256 and starts Qt;
#  and the bundle carries no ONNX cache a checkout that ran the app holds (models/*/weights.onnx).
# Prints the cold-start times it measured. Usage: bash installer/linux/smoke.sh [BUNDLE_DIR]
# (default dist/bcviewer). With an archive as the argument, it is unpacked first and that is tested.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
TARGET="${1:-dist/bcviewer}"
TMP="$(mktemp -d)"
trap 'rc=$?; rm -rf "$TMP"; [ "$rc" -eq 0 ] || echo "bundle smoke test FAILED (exit $rc)" >&2' EXIT
if [ -f "$TARGET" ]; then tar -C "$TMP" -xzf "$TARGET"; BUNDLE="$TMP/bcviewer"; else BUNDLE="$(cd "$TARGET" && pwd)"; fi
EXE="$BUNDLE/bcviewer"
SAMPLE_NAME=SOB_M_MC-14-13413-100-003.png
SAMPLE="$BUNDLE/_internal/bcviewer/_data/resources/sample/$SAMPLE_NAME"
[ -x "$EXE" ] || { echo "smoke: no bundle executable at $EXE" >&2; exit 1; }
[ -f "$SAMPLE" ] || { echo "smoke: the bundle carries no sample image at $SAMPLE" >&2; exit 1; }
CACHES="$(find "$BUNDLE" -name weights.onnx -o -name weights.onnx.json)"
[ -z "$CACHES" ] || { echo "smoke: the bundle carries runtime caches: $CACHES" >&2; exit 1; }
export QT_QPA_PLATFORM=offscreen XDG_DATA_HOME="$TMP/user-data"
unset BCVIEWER_MODELS BCVIEWER_GENE_MODELS
cd "$TMP"  # run from a folder that is not the source tree

now() { date +%s.%N; }
t0=$(now); "$EXE" --version; t1=$(now)
"$EXE" predict "$SAMPLE" --out bundle-out --quiet; t2=$(now)
(cd "$ROOT" && python3 -m bcviewer predict "resources/sample/$SAMPLE_NAME" --out "$TMP/source-out" --quiet)
python3 - "$TMP" <<'PY'
import csv, sys
from pathlib import Path
tmp = Path(sys.argv[1])
def probs(folder):
    (tiles,) = (tmp / folder).glob("*/tiles.csv")
    return [row["p_malignant"] for row in csv.DictReader(tiles.open())]
bundle, source = probs("bundle-out"), probs("source-out")
assert len(bundle) == 9 and bundle == source, f"bundle {bundle} != source {source}"
print(f"predict: bundle and source install agree on all {len(bundle)} tile probabilities")
PY
t3=$(now); "$EXE" open --run --screenshot shot.png; t4=$(now)
python3 - "$TMP/shot.png" <<'PY'
import sys
import numpy as np
from PIL import Image
pixels = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
assert pixels.shape == (860, 1400, 3) and pixels.std() > 20, f"blank screenshot: {pixels.shape}, std {pixels.std():.1f}"
print(f"screenshot: {pixels.shape[1]}x{pixels.shape[0]}, pixel std {pixels.std():.1f} (not blank)")
PY
"$EXE" doctor --json > doctor.json
python3 - "$TMP/doctor.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bcviewer"]["install"] == "bundle", r["bcviewer"]
assert r["problems"] == [], r["problems"]
assert {"breakhis-100x", "idc-wsi"} <= {m["name"] for m in r["models"]["models"] if m["status"] == "ok"}
assert r["qt"]["ok"] and r["qt"]["platform"] == "offscreen", r["qt"]
assert r["versions"]["torch"], "bundle lost the package metadata doctor reads"
print(f"doctor: {len(r['models']['models'])} models, sha256 ok; Qt {r['qt']['qt']} {r['qt']['platform']}; torch {r['versions']['torch']}")
PY
python3 - "$t0" "$t1" "$t2" "$t3" "$t4" <<'PY'
import sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:])
print(f"cold start: --version {t1 - t0:.1f} s; predict on the sample {t2 - t1:.1f} s; "
      f"open + analysis + screenshot {t4 - t3:.1f} s")
PY
echo "bundle smoke test passed: $BUNDLE ($(du -sm "$BUNDLE" | cut -f1) MB)"
