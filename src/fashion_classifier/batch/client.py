"""Client of the API's ``POST /predict_batch``: retries with backoff, trusted-caller key.

Connection errors, timeouts, 5xx and 429 are retried with exponential backoff
(honouring ``Retry-After``); when they persist the client raises
``ApiUnavailable`` and the caller falls back to in-process classification. A
4xx that concerns the request itself (too many files, body too large) splits
the chunk in halves instead, down to single files, so one odd photo never
costs its neighbours their results. Files the API did not decode because the
request had spent its decode budget (``request_budget_exceeded``) are sent again
in a request of their own. Every HTTP attempt is timed for the ``api_calls`` history.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter

from ..history import now_iso

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 30.0  # a rate limit that resets later than this is not worth waiting for
BUDGET_CODE = "request_budget_exceeded"  # the API's per-request decode budget (docs/API.md)


class ApiUnavailable(RuntimeError):
    """The API did not answer usefully after all retries."""


@dataclass(frozen=True)
class Upload:
    name: str  # sent as the multipart file name (already made safe)
    data: bytes


@dataclass
class CallRecord:
    """One HTTP attempt, in the shape of an ``api_calls`` row."""

    timestamp: str
    endpoint: str
    status_code: int  # 0: no response (connection error, timeout)
    response_time: float
    success: bool
    request_id: str | None = None
    method: str = "POST"
    images: int = 0
    error: str | None = None


class ApiClient:
    def __init__(self, base_url: str, key: str = "", timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.5, pool_size: int = 4,
                 on_call: Callable[[CallRecord], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.on_call = on_call or (lambda record: None)
        self._sleep = sleep
        self._local = threading.local()
        self._headers = {"X-Batch-Key": key} if key else {}
        self._pool_size = max(1, pool_size)

    def _session(self) -> requests.Session:
        # one session per thread: connection reuse without sharing a pool across threads
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self._headers)
            self._local.session = session
        return session

    # --- health --------------------------------------------------------------
    def ready(self, timeout: float = 5.0) -> tuple[bool, str]:
        """Is the API up with its model loaded? (``/readyz``, else ``/health``)."""
        detail = ""
        for path in ("/readyz", "/health"):
            try:
                response = self._session().get(self.base_url + path, timeout=timeout)
            except requests.RequestException as exc:
                return False, f"cannot connect to {self.base_url}: {type(exc).__name__}"
            if response.status_code == 404:
                continue
            if response.ok:
                return True, f"{path} {response.status_code}"
            detail = f"{path} answered {response.status_code}"
            if path == "/readyz":
                return False, detail
        return False, detail or "no health endpoint"

    # --- predictions ---------------------------------------------------------
    def predict_batch(self, uploads: Sequence[Upload]) -> list[dict]:
        """One result dict per upload, in order (see the API contract)."""
        if not uploads:
            return []
        response = self._post_with_retries(uploads)
        if response.status_code == 200:
            return self._resend_over_budget(uploads, self._results(response, len(uploads)))
        if len(uploads) > 1:  # the request as a whole was refused: halve it
            middle = len(uploads) // 2
            return self.predict_batch(uploads[:middle]) + self.predict_batch(uploads[middle:])
        return [_refused(response)]

    def _resend_over_budget(self, uploads: Sequence[Upload], results: list[dict]) -> list[dict]:
        """Send the files the API left undecoded (decode budget spent) again, in their own request."""
        again = [i for i, r in enumerate(results) if r.get("code") == BUDGET_CODE]
        if not again or len(again) == len(uploads):  # the API decodes a request's first file always
            return results
        for i, result in zip(again, self.predict_batch([uploads[i] for i in again]), strict=True):
            results[i] = result
        return results

    def _post_with_retries(self, uploads: Sequence[Upload]) -> requests.Response:
        response, last = None, "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self._delay(attempt, response))
            response, last = self._post_once(uploads)
            if response is not None and response.status_code not in RETRYABLE_STATUS:
                return response
            wait = _retry_after(response)
            if wait is not None and wait > MAX_RETRY_AFTER:
                raise ApiUnavailable(f"/predict_batch is rate-limited for {wait:.0f} s (HTTP 429); "
                                     "is the batch key (FASHION_BATCH_KEY) one of the API's trusted keys?")
        raise ApiUnavailable(f"/predict_batch failed after {self.retries + 1} attempts: {last}")

    def _post_once(self, uploads: Sequence[Upload]) -> tuple[requests.Response | None, str]:
        files = [("files", (u.name, u.data, "application/octet-stream")) for u in uploads]
        start = time.perf_counter()
        try:
            response = self._session().post(self.base_url + "/predict_batch", files=files,
                                            timeout=self.timeout)
        except requests.RequestException as exc:
            self._record(start, 0, False, len(uploads), f"{type(exc).__name__}: {exc}"[:300])
            return None, type(exc).__name__
        ok = response.status_code == 200
        self._record(start, response.status_code, ok, len(uploads),
                     None if ok else response.text[:300], response.headers.get("X-Request-ID"))
        return response, f"HTTP {response.status_code}"

    def _delay(self, attempt: int, last_response: requests.Response | None) -> float:
        wait = _retry_after(last_response)
        if wait is not None:
            return wait
        base = self.backoff * (2 ** (attempt - 1))
        return base + random.uniform(0, base / 2)  # jitter: workers do not retry in lockstep

    def _record(self, start: float, status: int, ok: bool, images: int, error: str | None,
                request_id: str | None = None) -> None:
        self.on_call(CallRecord(now_iso(), "/predict_batch", status, time.perf_counter() - start, ok,
                                request_id, images=images, error=error))

    @staticmethod
    def _results(response: requests.Response, expected: int) -> list[dict]:
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiUnavailable(f"/predict_batch returned an unreadable body: {exc}") from exc
        if len(results) != expected:
            raise ApiUnavailable(f"/predict_batch returned {len(results)} results for {expected} files")
        return sorted(results, key=lambda r: r.get("index", 0))


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None or response.status_code not in (429, 503):
        return None
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _refused(response: requests.Response) -> dict:
    try:
        body = response.json()
        message, code = body.get("error", response.reason), body.get("code", f"http_{response.status_code}")
    except ValueError:
        message, code = response.text[:200] or response.reason, f"http_{response.status_code}"
    return {"status": "error", "error": str(message), "code": str(code)}
