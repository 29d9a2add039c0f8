"""Print pyproject's dependencies (and the given extras) pinned to their floors, one a line.

Every ``name>=X`` becomes ``name==X``; other specifiers on the same line (``!=6.12.0``) are dropped
because the floor already satisfies them. A dependency without a floor is an error: the minimum-
versions job exists to prove each floor, so each dependency must have one.
Usage: python3 .ci/floors.py [extra ...]
"""

import re
import sys
from pathlib import Path

import tomllib

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += [r for r in project["optional-dependencies"][extra] if not r.startswith("bcviewer")]
for requirement in requirements:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*.*?>=\s*([^,;\s]+)", requirement)
    if not match:
        sys.exit(f"floors.py: {requirement!r} has no '>=' floor")
    print(f"{match.group(1)}=={match.group(2)}")
