"""Callback receivers on real sockets on 127.0.0.1: a normal one, a redirecting one, a slow one, a TLS one."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Records every POST; answers with the next status of `statuses` (the last one repeats).

    A 3xx answer carries `Location` back to the receiver itself, as a self-redirecting callback would.
    """

    def __init__(self, statuses=(200,), *, server_class=ThreadingHTTPServer, ssl_context: ssl.SSLContext | None = None):
        self.calls: list[tuple[dict, bytes]] = []
        self.sni: list[str | None] = []
        self._statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                n = len(receiver.calls)
                status = receiver._statuses[min(n, len(receiver._statuses)) - 1]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = server_class(("127.0.0.1", 0), Handler)
        scheme = "http"
        if ssl_context is not None:
            ssl_context.sni_callback = lambda sock, name, ctx: receiver.sni.append(name)
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SlowReceiver:
    """Reads the POST, then answers one byte every `interval` seconds until the sender hangs up.

    Records when each connection opened and when the sender hung up, so a
    test can see that the sender cut it off rather than waited it out.
    """

    RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    def __init__(self, interval: float = 5.0):
        self.interval = interval
        self.connections: list[dict] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._closed = threading.Event()
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/slow"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        entry = {"opened": time.monotonic(), "hung_up": None, "bytes_sent": 0}
        self.connections.append(entry)
        conn.settimeout(1.0)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            for byte in self.RESPONSE:
                if self._closed.is_set():
                    break
                # Between bytes, watch for the sender hanging up.
                deadline = time.monotonic() + self.interval
                while time.monotonic() < deadline:
                    try:
                        if conn.recv(65536) == b"":
                            raise ConnectionResetError
                    except socket.timeout:
                        pass
                conn.sendall(bytes([byte]))
                entry["bytes_sent"] += 1
        except OSError:
            pass
        finally:
            entry["hung_up"] = time.monotonic()
            conn.close()

    def close(self):
        self._closed.set()
        self._sock.close()


def self_signed_tls(host_name: str, tmp_path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only this certificate) for a certificate naming host_name."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client
