"""Print pyproject's dependencies (and the given extras) pinned to their floors, one a line.

Every ``name>=X`` becomes ``name==X``; other specifiers on the same line (``!=6.12.0``) are dropped
because the floor already satisfies them. An extra that names bcviewer itself (``bcviewer[train]``)
is followed. A dependency without a floor is an error: the minimum-versions job exists to prove
each floor, so each dependency must have one.
Usage: python3 .ci/floors.py [extra ...]
"""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
SELF = re.compile(r"^\s*bcviewer\s*\[([^\]]*)\]")


def requirements(extras: list[str], seen: set[str]) -> list[str]:
    found: list[str] = []
    for extra in extras:
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            match = SELF.match(requirement)
            if match:
                found += requirements([e.strip() for e in match.group(1).split(",")], seen)
            else:
                found.append(requirement)
    return found


pins: dict[str, str] = {}
for requirement in [*project["dependencies"], *requirements(sys.argv[1:], set())]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*.*?>=\s*([^,;\s#]+)", requirement)
    if not match:
        sys.exit(f"floors.py: {requirement!r} has no '>=' floor")
    pins.setdefault(match.group(1), match.group(2))
for name, floor in pins.items():
    print(f"{name}=={floor}")
