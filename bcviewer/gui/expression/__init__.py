"""The expression-profile tab: gene-expression models (``bcviewer.genes``) in the viewer."""

from bcviewer.gui.expression.tab import ExpressionTab

__all__ = ["ExpressionTab"]
