"""Shared fixtures: configuration on temporary folders, real photos, image makers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from fashion_classifier.config import Config

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "tests" / "fixtures" / "photos"


@pytest.fixture(scope="session")
def repo_config() -> Config:
    """The configuration of the checkout itself (shipped model, shared dataset)."""
    return Config(root=ROOT)


@pytest.fixture
def tmp_config(tmp_path) -> Config:
    """Shipped model and dataset, but every writable path inside tmp_path."""
    return Config(
        root=ROOT,
        incoming_dir=tmp_path / "incoming", processed_dir=tmp_path / "processed_batches",
        failed_dir=tmp_path / "failed", results_dir=tmp_path / "results",
        batch_results_dir=tmp_path / "results" / "batch_results",
        reports_dir=tmp_path / "results" / "reports",
        visualizations_dir=tmp_path / "results" / "visualizations",
        logs_dir=tmp_path / "logs", history_db=tmp_path / "logs" / "execution_history.db",
    )


def real_photos() -> list[tuple[str, Path]]:
    """(true category, path) of the committed real product photos."""
    return [(folder.name, path) for folder in sorted(PHOTOS.iterdir()) if folder.is_dir()
            for path in sorted(folder.glob("*.jpg"))]


def image_bytes(image: Image.Image, fmt: str = "PNG", **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def shipped_predictor(repo_config):
    from fashion_classifier.model import Predictor

    return Predictor.from_config(repo_config)


@pytest.fixture
def app(tmp_config, shipped_predictor):
    """The API app on the shipped model, writing into tmp paths (the API tests' client)."""
    from api_support import make_app, state

    app = make_app(tmp_config, shipped_predictor)
    yield app
    state(app).recorder.close()


@pytest.fixture
def client(app):
    return app.test_client()
