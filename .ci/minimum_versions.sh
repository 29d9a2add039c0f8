#!/usr/bin/env bash
# Minimum-versions job: every dependency declared in pyproject.toml (and the test extra) installed
# at exactly its floor in a separate venv, then the whole test suite.
#
# The venv sees the system site-packages only so that torch 2.14.1 (a 5.5 GB CUDA build, already
# installed by the main job) is reused instead of copied: torch's floor is that same version, and
# the check below fails the job if any declared package resolves to anything but its floor.
# pip's machine-wide constraint file (/etc/xdg/pip/constraints.txt: torch<=2.14.1,
# torchvision<=0.29.1) agrees with the floors and is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MINVER_VENV:-/tmp/bcviewer-minimum-versions}"
rm -rf "$VENV"
python3 -m venv --system-site-packages "$VENV"
python3 .ci/floors.py test > "$VENV/floors.txt"
echo "minimum versions:"; sed 's/^/  /' "$VENV/floors.txt"
"$VENV/bin/python" -m pip install -q -r "$VENV/floors.txt" 2>&1 | grep -v "is neither a file nor a directory" || true
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "is neither a file nor a directory" || true
"$VENV/bin/python" - "$VENV/floors.txt" <<'PY'
import sys
from importlib.metadata import version
wrong = []
for line in open(sys.argv[1]):
    name, want = line.strip().split("==")
    if version(name) != want:
        wrong.append(f"{name} {version(name)} (floor {want})")
if wrong:
    sys.exit("minimum-versions venv does not hold the floors: " + ", ".join(wrong))
print("every declared dependency is at its floor")
PY
# Plugins installed system-wide (pytest-benchmark, ...) must not load into this pytest: only pytest-qt.
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 "$VENV/bin/python" -m pytest -q -p no:cacheprovider -p pytestqt.plugin "$@"
