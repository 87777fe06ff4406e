"""The model store: versioned model folders and one pointer to the version in service.

Layout (under ``FASHION_MODELS_DIR``, default ``models/``)::

    models/                      the shipped model (a fresh clone serves it as it is)
      fashion_classifier.tflite, .keras, labels.json, model_card.json
      versions/<version>/        every trained candidate: the same artifacts + evaluation.json
      CURRENT                    the version in service ("shipped" or a folder of versions/)

``CURRENT`` is replaced atomically (write a temporary file, fsync, rename), so a
reader sees the old or the new version, never half of one. Without ``CURRENT`` the
shipped model serves. A configuration that names its own ``FASHION_MODEL_PATH``
bypasses the store (the pre-store behaviour).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

SHIPPED = "shipped"
POINTER = "CURRENT"
VERSIONS = "versions"
ARTIFACTS = ("fashion_classifier.tflite", "fashion_classifier.keras", "labels.json", "model_card.json")
_DEFAULT_MODEL_PATH = Path("models/fashion_classifier.tflite")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,120}$")


class StoreError(ValueError):
    """A clear message for the operator (unknown version, incomplete folder...)."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    folder: Path

    @property
    def card(self) -> dict:
        path = self.folder / "model_card.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    @property
    def complete(self) -> bool:
        return all((self.folder / name).is_file() for name in ARTIFACTS[:1] + ARTIFACTS[2:])


class ModelStore:
    def __init__(self, models_dir: Path):
        self.root = Path(models_dir)

    @classmethod
    def of(cls, config) -> ModelStore:
        return cls(config.path("models_dir"))

    @property
    def pointer(self) -> Path:
        return self.root / POINTER

    def versions(self) -> list[ModelVersion]:
        """The shipped model first, then the stored versions, oldest first."""
        found = [ModelVersion(SHIPPED, self.root)]
        folder = self.root / VERSIONS
        if folder.is_dir():
            stored = [ModelVersion(p.name, p) for p in folder.iterdir() if p.is_dir() and _SAFE.match(p.name)]
            found += sorted(stored, key=lambda v: (v.card.get("created", ""), v.name))
        return found

    def get(self, name: str) -> ModelVersion:
        if name == SHIPPED:
            return ModelVersion(SHIPPED, self.root)
        if not _SAFE.match(name or ""):
            raise StoreError(f"not a version name: {name!r}")
        version = ModelVersion(name, self.root / VERSIONS / name)
        if not version.folder.is_dir():
            raise StoreError(f"no version {name!r} in {self.root / VERSIONS} (see: models list)")
        if not version.complete:
            raise StoreError(f"version {name!r} is incomplete (missing artifacts in {version.folder})")
        return version

    def current_name(self) -> str:
        try:
            name = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return SHIPPED
        return name or SHIPPED

    def current(self) -> ModelVersion:
        """The version in service; the shipped model when the pointer names nothing usable."""
        try:
            return self.get(self.current_name())
        except StoreError:
            return self.get(SHIPPED)

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Changes whenever CURRENT is switched (inode and mtime): cheap to poll."""
        try:
            stat = self.pointer.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def switch(self, name: str) -> None:
        """Point CURRENT at ``name`` atomically (after checking the version is complete)."""
        self.get(name)
        tmp = self.pointer.with_name(f".{POINTER}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.pointer)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def new_version_folder(self, name: str) -> Path:
        if not _SAFE.match(name) or name == SHIPPED:
            raise StoreError(f"not a version name: {name!r}")
        folder = self.root / VERSIONS / name
        if folder.exists():
            raise StoreError(f"version {name!r} exists already")
        return folder


def uses_store(config) -> bool:
    """The store decides what serves unless the configuration names its own model file."""
    return Path(config.model_path) == _DEFAULT_MODEL_PATH


def serving_config(config, version: str | None = None):
    """``config`` with the model paths of the version in service (or of ``version``)."""
    if not uses_store(config) and version is None:
        return config
    store = ModelStore.of(config)
    chosen = store.get(version) if version else store.current()
    return replace(
        config,
        model_path=chosen.folder / ARTIFACTS[0],
        keras_model_path=chosen.folder / ARTIFACTS[1],
        labels_path=chosen.folder / ARTIFACTS[2],
        model_card_path=chosen.folder / ARTIFACTS[3],
    )
