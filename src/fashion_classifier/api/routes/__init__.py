"""Blueprints, one module per concern."""

from __future__ import annotations

from flask import Flask

from . import docs, health, info, metrics, predict, stats


def register_blueprints(app: Flask) -> None:
    for module in (info, health, predict, stats, metrics, docs):
        app.register_blueprint(module.bp)
