"""The OpenAPI document describes the whole API; responses conform to it under fuzzed input."""

from __future__ import annotations

import re

import pytest
import schemathesis
from api_support import make_app, state
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


@pytest.fixture
def api_schema(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    schema.config.generation.update(modes=["positive", "negative"], max_examples=15, deterministic=True)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=15)
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(checks=CHECKS)


def test_document_covers_every_route(app):
    spec = app.test_client().get("/openapi.json").get_json()
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert routes == set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        documented = set(spec["paths"][rule.rule])
        assert documented == {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}}, rule.rule


def test_document_reflects_config(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor, max_batch_files=7)
    spec = app.test_client().get("/openapi.json").get_json()
    files = spec["paths"]["/predict_batch"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert files["schema"]["properties"]["files"]["maxItems"] == 7
    state(app).recorder.close()


def test_docs_page_works_offline(app):
    response = app.test_client().get("/docs")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    for path in ("/predict", "/predict_batch", "/health", "/stats", "/metrics", "/readyz"):
        assert f"<code>{path}</code>" in html
    assert "curl -X POST -F " in html and "file=@product.jpg" in html
    # nothing is loaded from elsewhere: no external scripts, styles, fonts or images
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)
    assert "<script" not in html
