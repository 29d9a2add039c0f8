"""bcviewer: breast-cancer histopathology viewer with CNN+LSTM heatmaps and gene-expression models.

The package has two layers: a Qt-free core (``slides``, ``tiling``, ``datasets``, ``nets``,
``inference``, ``training``, ``labels``, ``genes``, ``export``, ``cli``) and the PySide6 shell in
``bcviewer.gui``. An import-linter contract keeps Qt out of the core.
"""

__version__ = "0.1.0"
