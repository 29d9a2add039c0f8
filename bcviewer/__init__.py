"""bcviewer: breast-cancer histopathology viewer with CNN+LSTM heatmaps and gene-expression models.

The package has two layers: a Qt-free core (``slides``, ``tiling``, ``datasets``, ``nets``,
``inference``, ``training``, ``labels``, ``genes``, ``export``, ``cli``) and the PySide6 shell in
``bcviewer.gui``. An import-linter contract keeps Qt out of the core.
"""

import os

__version__ = "0.1.0"

# albumentations asks PyPI for a newer release on import unless told not to: bcviewer never goes
# online at run time (and lab workstations often cannot).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
