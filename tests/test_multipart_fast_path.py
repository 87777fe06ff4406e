"""``multipart.single_file`` (the fast read of a /predict upload) against Werkzeug's parser.

Generated bodies mix what clients send with what they should not: preambles, lone CR or LF
line breaks, transport padding, extra parts, text fields, names in other encodings, a break
inside a quoted name, data that holds the boundary or pieces of it, epilogues, no closing
delimiter. Whenever the fast read answers, Werkzeug (with the API's tolerant headers) must
find the same file with the same name and bytes; for the shapes real clients send it must
answer, or it would never be used."""

from __future__ import annotations

from io import BytesIO

import pytest
import requests
from api_support import make_app, product_png, state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.formparser import FormDataParser

from fashion_classifier.api import multipart

multipart.install()

BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"
boundaries = st.text(BCHARS, min_size=1, max_size=70).map(str.encode)
breaks = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r", b" \r\n", b"\t\r\n"])
names = st.sampled_from([b'"file"', b"file", b'"files"', b'"File"', b'"other"', b'"file"; name="x"'])
filenames = st.one_of(st.none(), st.sampled_from([b'"p.jpg"', b'""', b"p.jpg", b'"caf\xe9.jpg"',
                                                  b'"caf\xc3\xa9.jpg"', b'"a\r\nb.jpg"', b'"a;b.jpg"',
                                                  b'"q\\"uote.jpg"', b"'x.jpg'"]))
extra_headers = st.lists(st.sampled_from([b"Content-Type: image/jpeg",
                                          b"Content-Type: application/octet-stream", b"X-Other: 1",
                                          b"Content-Transfer-Encoding: binary", b" continued",
                                          b"Bad header line"]), max_size=3)


@st.composite
def part(draw, boundary: bytes) -> bytes:
    filename = draw(filenames)
    disposition = b"Content-Disposition: form-data; name=" + draw(names)
    if filename is not None:
        disposition += b"; filename=" + filename
    lines = [disposition] + draw(extra_headers)
    if draw(st.booleans()):
        lines.reverse()
    line_break = draw(breaks)
    head = line_break.join(lines) + draw(st.sampled_from([b"\r\n\r\n", b"\r\n\r\n", b"\n\n", b"\r\r"]))
    pieces = draw(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(
        [b"--" + boundary, b"\r\n--" + boundary, b"\n--" + boundary + b"\r\n", b"\r\n--" + boundary[:-1],
         b"\r\n", b"\r", b"--", b"\r\n\r\n"])), max_size=6))
    return head + b"".join(pieces)


@st.composite
def bodies(draw) -> tuple[bytes, bytes]:
    boundary = draw(boundaries)
    dash = b"--" + boundary
    preamble = draw(st.sampled_from([b"", b"", b"", b"\r\n", b"preamble\r\n", b"\n"]))
    parts = [draw(part(boundary)) for _ in range(draw(st.integers(1, 3)))]
    body = preamble
    for piece in parts:
        body += dash + draw(breaks) + piece + draw(st.sampled_from([b"\r\n", b"\r\n", b"\n", b""]))
    body += draw(st.sampled_from([dash + b"--", dash + b"--\r\n", dash + b"--\r\n", dash + b"--  \r\n",
                                  dash + b"--epilogue", dash + b"\r\n", b""]))
    return body, boundary


MUTATIONS = [
    lambda b, d: b.replace(b"\r\n\r\n", b"\n\n", 1),
    lambda b, d: b.replace(b"\r\n\r\n", b"\r\nX: 1\n\n\r\n\r\n", 1),
    lambda b, d: b.replace(d + b"\r\n", d + b" \r\n", 1),
    lambda b, d: b.replace(d + b"\r\n", d + b"\n", 1),
    lambda b, d: b"\r\n" + b,
    lambda b, d: b"preamble" + b,
    lambda b, d: b + b"epilogue",
    lambda b, d: b + b"\r\n",
    lambda b, d: b[:-2],
    lambda b, d: b[:-4],
    lambda b, d: b.replace(b"\r\n" + d + b"--", b"\n" + d + b"--"),
    lambda b, d: b.replace(b"\r\n" + d + b"--", b"\r" + d + b"--"),
    lambda b, d: b.replace(b"\r\n" + d + b"--", d + b"--"),
    lambda b, d: b.replace(b"\r\n" + d + b"--", b"\r\n" + d + b"\r\n"),
    lambda b, d: b.replace(b"\r\n" + d + b"--", b"\r\n" + d + b'\r\nContent-Disposition: form-data; '
                           b'name="file"; filename="2.jpg"\r\n\r\nsecond\r\n' + d + b"--"),
    lambda b, d: b.replace(b"DATA", b"DA\n" + d + b"\r\nTA", 1),
    lambda b, d: b.replace(b"DATA", b"DA\r\n" + d + b"TA", 1),
    lambda b, d: b.replace(b"DATA", b"DA" + d + b"TA", 1),
    lambda b, d: b.replace(b"DATA", b"DA\r" + d + b"--TA", 1),
    lambda b, d: b.replace(b'name="file"', b'name="files"', 1),
    lambda b, d: b.replace(b'name="file"', b"name=file", 1),
    lambda b, d: b.replace(b'; filename="n.jpg"', b"", 1),
    lambda b, d: b.replace(b'filename="n.jpg"', b'filename="caf\xe9\r\n.jpg"', 1),
    lambda b, d: b.replace(b"Content-Disposition", b"content-disposition", 1),
    lambda b, d: b.replace(b"Content-Disposition", b"X-Before: 1\r\n Content-Disposition", 1),
    lambda b, d: b.replace(b"form-data;", b"attachment;", 1),
]


@st.composite
def near_plain(draw) -> tuple[bytes, bytes]:
    """The plain shape with a few of the mutations above: most fast answers come from here."""
    boundary = draw(boundaries)
    dash = b"--" + boundary
    data = draw(st.binary(max_size=60)) + b"DATA" + draw(st.binary(max_size=60))
    body = (dash + b'\r\nContent-Disposition: form-data; name="file"; filename="n.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + data + b"\r\n" + dash + b"--\r\n")
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        body = mutation(body, dash)
    return body, boundary


def werkzeug_file(body: bytes, boundary: bytes):
    _, _, files = FormDataParser().parse(BytesIO(body), "multipart/form-data", len(body),
                                         {"boundary": boundary.decode("ascii")})
    found = files.get("file")
    return None if found is None else (found.filename, found.stream.read())


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(bodies(), near_plain()))
def test_the_fast_read_agrees_with_werkzeug_whenever_it_answers(generated):
    body, boundary = generated
    fast = multipart.single_file(body, boundary, "file")
    if fast is not None:
        assert werkzeug_file(body, boundary) == fast


@given(st.binary(max_size=3000), st.sampled_from(["p.jpg", "caf\u00e9.jpg", "", "a b(1).jpg"]), boundaries)
def test_the_shape_clients_send_is_read_fast(data, filename, boundary):
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="'
            + filename.encode() + b'"\r\nContent-Type: image/jpeg\r\n\r\n' + data
            + b"\r\n--" + boundary + b"--\r\n")
    if b"--" + boundary in data:
        return  # a body cannot hold its own boundary; such a one is Werkzeug's
    assert multipart.single_file(body, boundary, "file") == (filename, data) == werkzeug_file(body, boundary)


@pytest.mark.parametrize("library", ["requests", "urllib3"])
def test_real_client_libraries_send_the_fast_shape(library):
    photo = product_png()
    if library == "requests":
        prepared = requests.Request("POST", "http://127.0.0.1/predict",
                                    files={"file": ("p.png", photo)}).prepare()
        body, content_type = prepared.body, prepared.headers["Content-Type"]
    else:
        import urllib3
        body, content_type = urllib3.encode_multipart_formdata({"file": ("p.png", photo, "image/png")})
    boundary = content_type.split("boundary=")[1].encode()
    assert multipart.single_file(body, boundary, "file") == ("p.png", photo)


def test_predict_answers_the_same_on_the_fast_and_the_full_read(tmp_config, shipped_predictor):
    app = make_app(tmp_config, shipped_predictor)
    client = app.test_client()
    photo = product_png()
    plain = (b'--B\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n\r\n'
             + photo + b"\r\n--B--\r\n")
    odd = b"a preamble\r\n" + plain.replace(b"--B--\r\n", b"--B--\r\nan epilogue")  # Werkzeug's read
    assert multipart.single_file(plain, b"B", "file") is not None
    assert multipart.single_file(odd, b"B", "file") is None
    answers = [client.post("/predict", data=body, content_type="multipart/form-data; boundary=B")
               for body in (plain, odd)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_json()["all_predictions"] == answers[1].get_json()["all_predictions"]
    text_field = client.post("/predict", data=b'--B\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
                             b"not a file\r\n--B--\r\n", content_type="multipart/form-data; boundary=B")
    assert text_field.status_code == 400 and "must be a file upload" in text_field.get_json()["error"]
    too_big = make_app(tmp_config, shipped_predictor, max_upload_bytes=len(photo) - 1).test_client().post(
        "/predict", data=plain, content_type="multipart/form-data; boundary=B")
    assert too_big.status_code == 413 and too_big.get_json()["code"] == "file_too_large"
    state(app).recorder.close()
