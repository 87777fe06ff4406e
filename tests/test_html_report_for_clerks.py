"""The HTML report reads like a morning note: the date in words as its title, every photo that
needs a look in the review queue's order with its picture and a link to the queue, failures with
a plain reason and what to do (and a picture where one can be drawn), shelves instead of paths,
file names in natural order."""

from __future__ import annotations

import re

import pytest
from report_rows import RUN_ID, night

from fashion_classifier.batch.outputs.html_report import render, run_title
from fashion_classifier.batch.outputs.results import natural_key

QUEUE = "http://dashboard.example:8050/review"
SUMMARY = {"total_processed": 11, "successful": 8, "failed": 3, "success_rate": 72.7, "duplicates": 0,
           "processing_time_seconds": 3.2, "classifier_path": "api", "attempts": 1}


@pytest.fixture
def page(tmp_path) -> str:
    return render(night(tmp_path), SUMMARY, {}, max_thumbnails=50, queue_url=QUEUE)


def section(page: str, anchor: str) -> str:
    return page.split(f'id="{anchor}"', 1)[1].split("<h2", 1)[0]


def test_the_title_is_the_date_in_words(page):
    assert "<title>Returns of Tuesday 1 December 2026</title>" in page
    assert "<h1>Returns of Tuesday 1 December 2026</h1>" in page
    assert run_title("20270315_021500") == "Returns of Monday 15 March 2027"
    assert run_title("manual") == "Returns, run manual"


def test_needs_a_look_in_queue_order_with_pictures_and_the_queue_link(page):
    look = section(page, "look")
    names = re.findall(r"<td>(IMG_\d+\.jpg)</td>", look)
    # manual review (Other included) lowest confidence first, then quick check; reviewed IMG_8 is not here
    assert names == ["IMG_7.jpg", "IMG_5.jpg", "IMG_6.jpg", "IMG_4.jpg", "IMG_3.jpg"]
    assert look.count('<img class="thumb" alt="" src="data:image/') == len(names)
    assert f'<a href="{QUEUE}">Open the review queue</a>' in look
    assert "not one of ours?" in look and "Not one of our categories (1)" in look
    reviewed = section(page, "reviewed")
    assert "IMG_8.jpg" in reviewed and "Sarah" in reviewed and "category corrected" in reviewed


def test_failures_say_what_happened_and_what_to_do(page):
    failed = section(page, "failed")
    assert "The photo file is cut off (it did not finish copying)." in failed
    assert "Send it again" in failed and "This file is not a photo" in failed
    assert "the image file is truncated" not in failed and "supported format (jpeg)" not in failed
    rows = failed.split("<tr")[2:]
    broken = next(r for r in rows if "broken.jpg" in r)
    notes = next(r for r in rows if "notes.jpg" in r)
    assert "data:image/" in broken, "a damaged photo still shows what can be drawn"
    assert "no picture" in notes and "failed folder" in notes


def test_shelves_not_paths_and_natural_order(page):
    assert "processed_batches" not in page and "data/failed" not in page
    shirts = page.split("Shirts → ", 1)[1].split("</table>", 1)[0]
    assert shirts.index("IMG_2.jpg") < shirts.index("IMG_10.jpg")
    assert "<td>Shirts</td>" in shirts
    assert sorted(["IMG_10", "img_2", "IMG_1"], key=natural_key) == ["IMG_1", "img_2", "IMG_10"]


def test_the_run_id_stays_in_the_small_print(page):
    assert f"Run {RUN_ID}" in page
