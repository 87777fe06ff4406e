"""Returns-photo classifier: ten fashion product categories, one shared Predictor."""

__version__ = "1.0.0"
