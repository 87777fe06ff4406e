"""Thin entry points of the REST API; the code lives in ``fashion_classifier.api``."""
