"""Exception hierarchy shared by the core.

Every error a user can cause derives from :class:`BcviewerError`; its message is written for a
pathologist or a researcher, not for a developer. The CLI prints it as one line and exits with 2;
the GUI shows it in a dialog.
"""


class BcviewerError(Exception):
    """Base class for every expected, user-facing failure."""
