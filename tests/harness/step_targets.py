"""Real targets for the step executors' tests: a scripted HTTP(S) server and certificates.

The server is deliberately plain (blocking sockets, a thread per connection, time.sleep
for delays) so its timing is exact and independent of the probe's event loop. It runs
in-process for functional tests, or as its own process (`python -m
tests.harness.step_targets`) when timings are compared, so the probe and the target never
share an interpreter lock.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cxj_journey.model import Extraction, Step
from cxj_probe.steps.base import StepContext

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@dataclass(frozen=True)
class Route:
    """How the server answers one path."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b"ok"
    header_delay_s: float = 0.0  # before the status line
    body_delay_s: float = 0.0  # between the first and the second half of the body
    raw: bytes | None = None  # sent verbatim instead of a response, then the connection closes
    hang: bool = False  # read the request, then never answer


@dataclass(frozen=True)
class Received:
    """A request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass
class HttpTarget:
    """A scripted HTTP/1.1 server on 127.0.0.1, plain or TLS, one thread per connection."""

    routes: Mapping[str, Route] = field(default_factory=dict)
    default: Route = field(default_factory=lambda: Route(404, body=b"not found"))
    tls: ssl.SSLContext | None = None
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # Released once per hung connection the client closed: proof the probe let go.
    hung_closed: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    handshake_started: threading.Event = field(default_factory=threading.Event)
    # Seconds a TLS connection waits before the server answers the ClientHello: the
    # handshake of a server that far away (or that slow), as both clients see it.
    handshake_delay_s: float = 0.0

    def __post_init__(self) -> None:
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> HttpTarget:
        """Binds and starts accepting."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        """Stops accepting, drops open connections and joins every thread."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> HttpTarget:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        """The URL of a path on this server."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.add(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            stream: socket.socket = conn
            if self.tls is not None:
                self.handshake_started.set()
                if self.handshake_delay_s:
                    time.sleep(self.handshake_delay_s)
                stream = self.tls.wrap_socket(conn, server_side=True)
            self._answer(stream)
        except (OSError, ValueError):
            pass  # the client went away or failed its handshake: that is what some tests do
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def _answer(self, stream: socket.socket) -> None:
        request = _read_request(stream)
        if request is None:
            return
        self.received.append(request)
        route = self.routes.get(request.target.split("?")[0], self.default)
        if route.hang:
            _drain(stream)
            if not self._stopping.is_set():
                self.hung_closed.release()
            return
        if route.header_delay_s:
            time.sleep(route.header_delay_s)
        if route.raw is not None:
            stream.sendall(route.raw)
            return
        reason = http.HTTPStatus(route.status).phrase if route.status in _KNOWN else "Status"
        lines = [f"HTTP/1.1 {route.status} {reason}"]
        names = {name.lower() for name, _ in route.headers}
        lines += [f"{name}: {value}" for name, value in route.headers]
        if "content-length" not in names and request.method != "HEAD":
            lines.append(f"Content-Length: {len(route.body)}")
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = b"" if request.method == "HEAD" else route.body
        half = len(body) // 2
        stream.sendall(head + body[:half])
        if route.body_delay_s:
            time.sleep(route.body_delay_s)
        stream.sendall(body[half:])
        with contextlib.suppress(OSError):
            if isinstance(stream, ssl.SSLSocket):
                stream.unwrap()


_KNOWN = {s.value for s in http.HTTPStatus}


def _drain(stream: socket.socket) -> None:
    """Reads until the peer closes (cleanly or with a reset)."""
    with contextlib.suppress(OSError):
        while stream.recv(4096):
            pass


def _read_request(stream: socket.socket) -> Received | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = stream.recv(65536)
        if not chunk:
            return None
        data += chunk
        if not data[:1].isalpha():  # not HTTP (a TLS ClientHello, say): answer as servers do
            stream.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = stream.recv(65536)
        if not chunk:
            break
        body += chunk
    return Received(method, target, headers, body)


@contextlib.contextmanager
def silent_listener() -> Iterator[tuple[int, threading.Semaphore]]:
    """A TCP port that accepts and never sends a byte; yields (port, closed-by-client)."""
    closed = threading.Semaphore(0)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stopping = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                _drain(conn)
                if not stopping.is_set():
                    closed.release()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], closed
    finally:
        stopping.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class Certificates:
    """A CA and a server certificate it issued, as PEM files and text."""

    ca_pem: str
    cert_path: Path
    key_path: Path
    not_after: dt.datetime

    def server_context(self, maximum_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A server-side TLS context presenting the certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        if maximum_version is not None:
            context.maximum_version = maximum_version
        return context


def issue_certificates(
    folder: Path, *, valid_days: float = 30.0, expired: bool = False
) -> Certificates:
    """Writes a CA and a server certificate for localhost and 127.0.0.1 into a folder.

    valid_days sets how long the server certificate has left; expired makes it one that
    ended a day ago.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cxj-step-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=valid_days)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=10))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_path, key_path = folder / "server.crt", folder / "server.key"
    cert_path.write_bytes(leaf.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificates(
        ca_pem=ca.public_bytes(pem).decode("ascii"),
        cert_path=cert_path,
        key_path=key_path,
        not_after=leaf.not_valid_after_utc,
    )


def make_step(action: Any, *, kind: str, extract: tuple[Extraction, ...] = ()) -> Step:
    """A step around an action, as the journey model would build it."""
    return Step(
        name=f"{kind}-step",
        kind=kind,
        layer="platform",
        timeout_s=10.0,
        threshold_s=None,
        extract=extract,
        action=action,
    )


def make_context(
    variables: Mapping[str, str] | None = None,
    secrets: Mapping[tuple[str, str], str] | None = None,
    timeout_s: float = 10.0,
) -> StepContext:
    """A step context with variables, Secrets (a KeyError when missing) and a traceparent."""
    stored = dict(secrets or {})
    return StepContext(
        variables=dict(variables or {}),
        secrets=lambda name, key: stored[(name, key)],
        trace_headers={"traceparent": TRACEPARENT},
        timeout_s=timeout_s,
    )


def main() -> None:
    """Serves one route on every path until killed: the target for timing comparisons."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--handshake-delay", type=float, default=0.0)
    parser.add_argument("--header-delay", type=float, default=0.0)
    parser.add_argument("--body-delay", type=float, default=0.0)
    parser.add_argument("--body-size", type=int, default=2048)
    args = parser.parse_args()
    tls = None
    if args.cert is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    route = Route(
        headers=(("Content-Type", "text/plain"),),
        body=b"x" * args.body_size,
        header_delay_s=args.header_delay,
        body_delay_s=args.body_delay,
    )
    target = HttpTarget(
        default=route, tls=tls, port=args.port, handshake_delay_s=args.handshake_delay
    ).start()
    print(f"serving on 127.0.0.1:{target.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
