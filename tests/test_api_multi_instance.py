"""Two API instances behind one (imagined) load balancer share one history database.

Two real gunicorn servers on their own loopback ports, the same
``FASHION_HISTORY_DB``: calls made to either are in ``/stats`` of both, and
stay there when one instance goes away (docs/SCALING.md).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import requests
from api_support import real_photos
from batch_support import BATCH_KEY, ApiServer

pytestmark = pytest.mark.timeout(240)
HEADERS = {"X-Batch-Key": BATCH_KEY}


def _stats(url: str, want: dict[str, int], timeout: float = 20) -> dict:
    """/stats of one instance once it counts ``want`` calls per endpoint (rows land just after replies)."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url + "/stats", headers=HEADERS, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        counts = {e: body["requests_by_endpoint"].get(e, {}).get("requests", 0) for e in want}
        if counts == want or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_two_instances_share_one_history_database(tmp_path):
    shared = tmp_path / "shared" / "execution_history.db"
    shared.parent.mkdir()
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(ApiServer(tmp_path / name, workers=1, FASHION_HISTORY_DB=str(shared)))
    a, b = servers
    try:
        for server in servers:
            server.start()
        assert a.port != b.port
        photos = real_photos(5)
        categories = []
        for i, photo in enumerate(photos):  # round robin, as a load balancer would
            server = servers[i % 2]
            response = requests.post(server.url + "/predict", files={"file": (f"{i}.jpg", photo)},
                                     headers=HEADERS, timeout=30)
            assert response.status_code == 200, response.text
            categories.append(response.json()["category"])
        for _ in range(4):
            assert requests.get(b.url + "/classes", headers=HEADERS, timeout=10).status_code == 200
        want = {"/predict": 5, "/classes": 4}
        for server in servers:  # either instance sees every call, whichever served it
            body = _stats(server.url, want)
            assert {e: body["requests_by_endpoint"][e]["requests"] for e in want} == want, server.url
            assert body["total_predictions"] == 5
            seen = {c: n for c, n in body["predictions_by_category"].items() if n}
            assert seen == Counter(categories), server.url
        a.stop()  # one instance leaves (a deploy, a crash): the history stays with the survivors
        assert requests.get(b.url + "/stats", headers=HEADERS, timeout=10).json()["total_predictions"] == 5
    finally:
        for server in servers:
            server.stop()
