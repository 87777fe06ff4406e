"""Data preparation: robust reading, verification, duplicate grouping, stratified reproducible splits."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from fashion_classifier.data.prepare import (
    SPLITS,
    prepare,
    read_split,
    read_styles,
)
from fashion_classifier.labels import CATEGORIES

HEADER = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName\n"


def _photo(path: Path, shade: int) -> None:
    Image.new("RGB", (60, 80), (shade, 255 - shade, (shade * 7) % 256)).save(path, "JPEG", quality=95)


@pytest.fixture
def mini_dataset(tmp_path) -> Path:
    """20 images per class, plus every quirk of the full Kaggle download."""
    root = tmp_path / "kaggle"
    (root / "images").mkdir(parents=True)
    lines = [HEADER]
    next_id = 1000
    for c, category in enumerate(CATEGORIES):
        for k in range(20):
            next_id += 1
            _photo(root / "images" / f"{next_id}.jpg", (c * 25 + k * 3) % 256)
            # unquoted commas in the display name, as in the full styles.csv
            lines.append(f"{next_id},Men,Apparel,Topwear,{category},Blue,Summer,2012,Casual,"
                         f"Name, with, commas {k}\n")
    # a duplicate (same bytes, same label) and a conflicting duplicate (same bytes, other label)
    (root / "images" / "5001.jpg").write_bytes((root / "images" / "1001.jpg").read_bytes())
    (root / "images" / "5002.jpg").write_bytes((root / "images" / "1021.jpg").read_bytes())
    lines.append("5001,Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,dup\n")
    lines.append("5002,Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,conflict\n")
    # corrupt, empty, missing, and a category we do not keep
    (root / "images" / "6001.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "images" / "6002.jpg").write_bytes(b"")
    lines += ["6001,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,bad\n",
              "6002,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,empty\n",
              "6003,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,missing\n",
              "7001,Men,Apparel,Bottomwear,Jeans,Blue,Summer,2012,Casual,other class\n",
              "broken line without enough columns\n"]
    (root / "styles.csv").write_text("".join(lines))
    return root


def test_read_styles_survives_unquoted_commas(mini_dataset):
    rows = read_styles(mini_dataset / "styles.csv")
    assert len(rows) == 10 * 20 + 2 + 3
    assert all(label in CATEGORIES for _, label in rows)
    assert ("7001", "Jeans") not in rows


def test_prepare_reports_bad_images_and_splits_the_rest(mini_dataset, tmp_path):
    report = prepare(mini_dataset, tmp_path / "splits", seed=7)
    assert set(report["skipped"]) == {"6001", "6002", "6003"}
    assert report["skipped"]["6003"] == "missing"
    assert report["skipped"]["6002"] == "empty file"
    assert report["skipped"]["6001"].startswith("corrupt")
    assert report["conflicting_groups"] == [["1021=Shirts", "5002=Tshirts"]]
    splits = {name: read_split(tmp_path / "splits", name) for name in SPLITS}
    ids = [r.id for recs in splits.values() for r in recs]
    assert len(ids) == len(set(ids)) == 10 * 20 + 1 - 1  # +dup 5001, -1021 (conflict group)
    assert "1021" not in ids and "5002" not in ids


def test_identical_images_stay_in_one_split(mini_dataset, tmp_path):
    prepare(mini_dataset, tmp_path / "splits", seed=7)
    where = {r.id: name for name in SPLITS for r in read_split(tmp_path / "splits", name)}
    assert where["1001"] == where["5001"]


def test_split_is_stratified_70_15_15(mini_dataset, tmp_path):
    prepare(mini_dataset, tmp_path / "splits", seed=7)
    for category in CATEGORIES:
        counts = Counter(name for name in SPLITS for r in read_split(tmp_path / "splits", name)
                         if r.label == category)
        assert counts["train"] in (13, 14, 15) and counts["val"] in (3, 4) and counts["test"] in (3, 4)


def test_split_is_reproducible_and_seed_dependent(mini_dataset, tmp_path):
    first = prepare(mini_dataset, tmp_path / "a", seed=7)
    again = prepare(mini_dataset, tmp_path / "b", seed=7)
    other = prepare(mini_dataset, tmp_path / "c", seed=8)
    assert (tmp_path / "a" / "train.csv").read_bytes() == (tmp_path / "b" / "train.csv").read_bytes()
    assert first["data_hash"] == again["data_hash"] != other["data_hash"]


def test_committed_splits_are_what_prepare_writes(repo_config, tmp_path):
    """The shipped model's data/splits are reproducible from the shared dataset."""
    report = prepare(repo_config.path("dataset_dir"), tmp_path / "splits", seed=repo_config.seed)
    for name in SPLITS:
        committed = repo_config.path("splits_dir") / f"{name}.csv"
        assert (tmp_path / "splits" / f"{name}.csv").read_bytes() == committed.read_bytes(), name
    counts = report["counts"]
    total = sum(sum(c.values()) for c in counts.values())
    assert total == 22388 - 4  # two conflicting pairs dropped
    assert abs(sum(counts["train"].values()) / total - 0.70) < 0.005
    groups = {}
    for name in SPLITS:
        with open(tmp_path / "splits" / f"{name}.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                groups.setdefault(row["group"], set()).add(name)
    assert all(len(names) == 1 for names in groups.values())


def test_cli_help_and_run(mini_dataset, tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "fashion_classifier.data", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "--dataset-dir" in help_text and "70/15/15" in help_text
    plot = tmp_path / "dist.png"
    done = subprocess.run([sys.executable, "-m", "fashion_classifier.data",
                           "--dataset-dir", str(mini_dataset),
                           "--out", str(tmp_path / "s"), "--plot", str(plot)],
                          capture_output=True, text=True, check=True)
    assert "skipped: 3" in done.stdout and "Sunglasses" in done.stdout
    assert "skipped image 6003: missing" in done.stderr
    assert plot.stat().st_size > 10_000
    assert Image.open(plot).size[0] > 500
