"""A bare HTTP/1.1 client over a socket, for requests that well-behaved clients refuse to send.

Bad Content-Length values, header values outside ASCII, unknown methods and
bodies that disagree with their declared length all go out exactly as given,
so tests can see what the server answers, or whether it drops the connection.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    """The server's answer; `status` is None when the connection closed or reset without a complete answer."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


def send_raw(host: str, port: int, method: str | bytes, target: str | bytes, headers: list[tuple[str | bytes, str | bytes]],
             body: bytes = b"", *, content_length: str | bytes | None = "auto", timeout: float = 30.0,
             body_chunks: int = 1) -> RawResponse:
    """Send one request on a fresh connection (`Connection: close`) and read the answer.

    content_length "auto" declares len(body); None declares none; any other value is sent verbatim.
    After the body the client half-closes, so a server waiting for more bytes sees the end instead of hanging.
    """

    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8")

    lines = [raw(method) + b" " + raw(target) + b" HTTP/1.1", b"Host: " + f"{host}:{port}".encode(), b"Connection: close"]
    if content_length == "auto":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    elif content_length is not None:
        lines.append(b"Content-Length: " + raw(content_length))
    lines += [raw(k) + b": " + raw(v) for k, v in headers]
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            try:
                sock.sendall(head)
                step = max(1, len(body) // max(1, body_chunks))
                for i in range(0, len(body), step):
                    sock.sendall(body[i:i + step])
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may answer and close before taking a body it refused: read that answer
            return _read_response(sock, method_is_head=raw(method).upper() == b"HEAD")
    except (ConnectionError, socket.timeout, OSError) as exc:
        return RawResponse(None, error=f"{type(exc).__name__}: {exc}")


def _read_response(sock: socket.socket, *, method_is_head: bool) -> RawResponse:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return RawResponse(None, error="connection closed before an answer" if not data else "truncated headers")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
        parts = status_line.split(" ", 2)
        status = int(parts[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if method_is_head or status in (204, 304):
            return RawResponse(status, headers, b"")
        length = int(headers.get("content-length", "-1"))
        while length < 0 or len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        if length >= 0 and len(rest) < length:
            return RawResponse(None, headers, rest, error="truncated body")
        return RawResponse(status, headers, rest[:length] if length >= 0 else rest)
    except (ConnectionError, socket.timeout, OSError, ValueError, IndexError) as exc:
        return RawResponse(None, error=f"{type(exc).__name__}: {exc}")


def acceptable(response: RawResponse, method: str | bytes = "GET") -> str | None:
    """Why an answer breaks the rule (a success, or a 4xx with a JSON error code), or None when it keeps it."""
    if response.status is None:
        return f"dropped connection ({response.error})"
    if response.status >= 500:
        return f"server error {response.status} {response.body[:200]!r}"
    head = (method if isinstance(method, bytes) else method.encode("utf-8", "replace")).upper() == b"HEAD"
    if response.status >= 400 and not head and not response.error_code:
        return f"{response.status} without an error code: {response.body[:200]!r}"
    return None
