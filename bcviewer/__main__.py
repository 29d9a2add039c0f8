"""``python -m bcviewer`` behaves exactly like the ``bcviewer`` console script."""

import sys

from bcviewer.launcher import main

sys.exit(main())
