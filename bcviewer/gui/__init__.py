"""PySide6 desktop shell: widgets that wire user actions to core objects."""
