"""Hypothesis strategies for hostile HTTP requests against the API: one grammar for the CI sample and the benchmark.

Each generated request mixes a route of the API (or none), a method, a query
string, headers (the function key, bad keys, bad lengths, odd bytes) and a body
that is either a mutated valid request or junk (deep nesting, huge numbers,
invalid UTF-8, broken images, decompression-bomb headers).
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
from hypothesis import strategies as st
from PIL import Image

ENROLLED_SUBJECT = "alice"


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but holds one empty data chunk: a decompression-bomb header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


GOOD_PNG = _png(np.full((48, 64, 3), 170, np.uint8))
GOOD_B64 = base64.b64encode(GOOD_PNG).decode()
IMAGE_VALUES = [
    GOOD_B64,
    "data:image/png;base64," + GOOD_B64,
    base64.b64encode(GOOD_PNG[: len(GOOD_PNG) // 2]).decode(),  # truncated
    base64.b64encode(_png_header_only(100_000, 100_000)).decode(),  # bomb header
    base64.b64encode(_png_header_only(0, 10)).decode(),
    base64.b64encode(b"\xff\xd8\xff" + b"\x00" * 64).decode(),  # JPEG magic, no JPEG
    base64.b64encode(b"GIF89a" + b"\x00" * 20).decode(),
    "data:;base64,",
    "@@@@",
    "",
]

ROUTES = [
    ("POST", "/api/v1/verifications"),
    ("GET", "/api/v1/verifications/{id}"),
    ("POST", "/api/v1/subjects/{id}/enrolment"),
    ("POST", "/api/v1/subjects/{id}/renewal"),
    ("DELETE", "/api/v1/subjects/{id}"),
    ("GET", "/api/v1/reviews"),
    ("GET", "/api/v1/reviews/{id}"),
    ("POST", "/api/v1/reviews/{id}"),
    ("GET", "/api/v1/blobs/{id}"),
    ("GET", "/api/health"),
    ("GET", "/console/{id}"),
    ("GET", "/{id}"),
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO", "get"]


@dataclass
class HostileRequest:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    content_length: str | bytes | None  # "auto", None (absent) or the raw value

    def describe(self) -> str:
        return f"{self.method} {self.target[:120]} CL={self.content_length!r} body={len(self.body)}B"


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=60),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=12)
ids = st.one_of(
    st.just(ENROLLED_SUBJECT), st.just("alice\n"), st.just(""), st.just(".."), st.just("%2e%2e"),
    st.from_regex(r"[A-Za-z0-9._:-]{1,40}", fullmatch=True), st.text(max_size=40), st.just("x" * 5000),
)
image_values = st.one_of(st.sampled_from(IMAGE_VALUES), json_values)


def _encode_path_part(value: str, raw: bool) -> str:
    return value if raw else quote(value, safe="")


@st.composite
def targets(draw) -> tuple[str, str]:
    """(the route's own method, the request target)."""
    method_hint, route = draw(st.sampled_from(ROUTES))
    ident = draw(ids)
    path = route.replace("{id}", _encode_path_part(ident, draw(st.booleans())))
    params = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["code", "mode", "limit", "expires", "sig", "x"]))
        value = draw(st.one_of(st.sampled_from(["sync", "async", "1", "-1", "9" * 5000, "%C3%A9", "%FF", "%", "%00", "é"]),
                               st.text(max_size=20)))
        params.append(f"{name}={value if value.startswith('%') else quote(value, safe='')}")
    query = ("?" + "&".join(params)) if params else ""
    return method_hint, path + query


@st.composite
def verification_bodies(draw, keep_weight: int = 6) -> dict:
    body = {"subject_id": ENROLLED_SUBJECT, "device_id": "fuzz", "face_image": GOOD_B64, "signature_image": GOOD_B64}
    for name in ("subject_id", "device_id", "face_image", "signature_image", "callback_url"):
        choice = draw(st.sampled_from(["keep"] * keep_weight + ["drop", "junk", "id"]))
        if choice == "drop":
            body.pop(name, None)
        elif choice == "junk":
            body[name] = draw(image_values if name.endswith("_image") else json_values)
        elif choice == "id" and name in ("subject_id", "device_id"):
            body[name] = draw(ids)
        elif choice == "id" and name == "callback_url":
            body[name] = draw(st.sampled_from(["https://example.org/cb", "ftp://x", "http://", "https://user:pw@h/", "x" * 3000]))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        body[draw(st.text(max_size=10))] = draw(json_values)
    return body


@st.composite
def bodies(draw) -> bytes:
    kind = draw(st.sampled_from(range(10)))
    if kind <= 3:
        return json.dumps(draw(verification_bodies())).encode()
    if kind == 4:
        doc = {"face_images": draw(st.lists(image_values, max_size=3)), "signature_images": draw(st.lists(image_values, max_size=4))}
        return json.dumps(doc).encode()
    if kind == 5:
        doc = {"verdict": draw(st.one_of(st.sampled_from(["accept", "reject"]), json_values)),
               "presentation": draw(st.one_of(st.sampled_from(["bona_fide", "attack"]), json_values)),
               "note": draw(json_values), "reviewer": draw(json_values)}
        return json.dumps(doc).encode()
    if kind == 6:
        depth = draw(st.sampled_from([10, 500, 5_000, 100_000]))
        opener = draw(st.sampled_from(["[", '{"a":', '{"subject_id":[']))
        return (opener * depth).encode()
    if kind == 7:
        return draw(st.sampled_from([b"1" * 5000, b'{"subject_id": 1e999999}', b"NaN", b'"\\ud800"', b"\xff\xfe{}",
                                     b'{"a": "\xc3\x28"}', b"", b"null", b"[]", b'{"subject_id": "alice"}']))
    if kind == 8:
        return draw(st.binary(max_size=2000))
    return json.dumps(draw(json_values)).encode()


def _latin1(text: str) -> bytes:
    return text.encode("latin-1", "replace").replace(b"\r", b"").replace(b"\n", b"")


@st.composite
def header_lists(draw, function_key: str) -> list[tuple[bytes, bytes]]:
    headers = []
    key = draw(st.sampled_from(["good", "good", "good", "none", "bad", "latin1", "utf8", "bearer"]))
    if key == "good":
        headers.append((b"x-functions-key", function_key.encode()))
    elif key == "bad":
        headers.append((b"x-functions-key", b"not-the-key"))
    elif key == "latin1":
        headers.append((b"x-functions-key", b"\xe9\xff"))
    elif key == "utf8":
        headers.append((b"x-functions-key", "é".encode()))
    elif key == "bearer":
        headers.append((b"Authorization", draw(st.sampled_from([b"Bearer ", b"Bearer x", b"Bearer bk_\xff.\xfe", b"Basic abc",
                                                                 b"Bearer " + b"a" * 5000]))))
    if draw(st.booleans()):
        headers.append((b"Content-Type", draw(st.sampled_from([b"application/json", b"text/plain", b"multipart/form-data; boundary=x"]))))
    if draw(st.sampled_from([False] * 4 + [True])):
        headers.append((b"Idempotency-Key", _latin1(draw(st.text(max_size=200)))))
    if draw(st.sampled_from([False] * 19 + [True])):
        headers.append((b"Transfer-Encoding", b"chunked"))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        name = draw(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)).encode()
        headers.append((name, _latin1(draw(st.text(max_size=60)))))
    return headers


@st.composite
def near_valid_verifications(draw, function_key: str) -> HostileRequest:
    """A device's POST with at most a small fault, so that requests also reach decoding, the queue and the steps."""
    mode = draw(st.sampled_from(["", "", "?mode=sync", "?mode=async", "?mode=SYNC"]))
    headers = [(b"x-functions-key", function_key.encode()), (b"Content-Type", b"application/json")]
    if draw(st.booleans()):
        headers.append((b"Idempotency-Key", draw(st.sampled_from([b"k-1", b"k-2", b"", b"x" * 129]))))
    body = json.dumps(draw(verification_bodies(keep_weight=40))).encode()
    return HostileRequest("POST", "/api/v1/verifications" + mode, headers, body, "auto")


@st.composite
def hostile_requests(draw, function_key: str) -> HostileRequest:
    if draw(st.sampled_from([False] * 3 + [True])):
        return draw(near_valid_verifications(function_key))
    route_method, target = draw(targets())
    method = draw(st.sampled_from([route_method] * 30 + METHODS))
    body = draw(bodies()) if method not in ("GET", "HEAD") or draw(st.sampled_from([False] * 9 + [True])) else b""
    length = draw(st.sampled_from(["auto"] * 12 + [None, "-1", "abc", "", " 12", "1e3", "+5", "0x10", "99999999999999999999",
                                                   "short", "long"]))
    if length == "short":
        length = str(max(0, len(body) - 5))
    elif length == "long":
        length = str(len(body) + 7)
    return HostileRequest(method, target, draw(header_lists(function_key)), body, length)
