"""Entry point of the frozen bundle: the same launcher as the ``bcviewer`` console script."""

import sys

from bcviewer.launcher import main

if __name__ == "__main__":
    sys.exit(main())
