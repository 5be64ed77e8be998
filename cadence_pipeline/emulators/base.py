"""Threaded loopback HTTP server shared by the API emulators, with a fault plan.

Each emulator subclasses `Emulator` and implements `handle(request) -> Response`. The server
binds 127.0.0.1 on a free port and serves every request in its own daemon thread. Before an
emulator handles a request, the server checks the fault plan. Faults queued for a method and
path prefix are served at the HTTP layer, one per matching request, in order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

EMULATOR_TOKEN = "cadence-emulator-token"  # a fixed credential, valid only on loopback

FAULT_KINDS = ("status", "delay", "drop", "expired_session", "invalid_locator")


@dataclass(frozen=True)
class Fault:
    """One fault served in place of (or before) a normal response.

    Kinds:
    - `status` returns `status` with the API's own error body, plus `Retry-After` when
      `retry_after` is set.
    - `delay` sleeps `seconds` and then serves the request normally, so a client with a
      shorter read timeout times out.
    - `drop` closes the connection without a response.
    - `expired_session` returns the API's response to an expired token.
    - `invalid_locator` returns Salesforce's response to an unknown query locator.
    """

    kind: str
    status: int = 0
    retry_after: float | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")

    @classmethod
    def http_status(cls, status: int, retry_after: float | None = None) -> Fault:
        return cls(kind="status", status=status, retry_after=retry_after)

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Fault:
        return cls(kind="status", status=429, retry_after=retry_after)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls(kind="delay", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        return cls(kind="drop")

    @classmethod
    def expired_session(cls) -> Fault:
        return cls(kind="expired_session")

    @classmethod
    def invalid_locator(cls) -> Fault:
        return cls(kind="invalid_locator")


class FaultPlan:
    """Queues of faults per HTTP method and path prefix, consumed one per matching request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: list[tuple[str, str, deque[Fault]]] = []

    def add(self, method: str, path_prefix: str, *faults: Fault) -> None:
        """Queue `faults` for requests whose method is `method` (or `*`) under `path_prefix`."""
        with self._lock:
            self._queues.append((method.upper(), path_prefix, deque(faults)))

    def take(self, method: str, path: str) -> Fault | None:
        """Return and remove the next fault for this request, or None."""
        with self._lock:
            for queued_method, prefix, queue in self._queues:
                if queue and queued_method in (method, "*") and path.startswith(prefix):
                    return queue.popleft()
        return None

    def pending(self) -> int:
        with self._lock:
            return sum(len(queue) for _, _, queue in self._queues)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def bearer_token(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


class Emulator:
    """Base of the API emulators: the server thread, the fault plan and the base latency."""

    name = "emulator"

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.faults = FaultPlan()
        self.request_log: list[tuple[str, str]] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Subclasses override these.
    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def fault_response(self, fault: Fault, request: Request) -> Response:
        """Return the API's own response for a `status`, `expired_session` or locator fault."""
        return Response(fault.status or 500, {"message": "injected fault"})

    # Lifecycle.
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"the {self.name} emulator is not running; call start() first")
        return int(self._server.server_address[1])

    def start(self) -> Emulator:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-emulator",
            daemon=True,
        )
        self._thread.start()
        logger.info("started the %s emulator on %s", self.name, self.url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        logger.info("stopped the %s emulator", self.name)
        self._server = None
        self._thread = None

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the emulator stops, so tests end quickly."""
        if seconds > 0:
            self._stopping.wait(seconds)

    # Dispatch, called by the request handler.
    def dispatch(self, request: Request) -> Response | None:
        """Return the response for `request`, or None to drop the connection."""
        self.request_log.append((request.method, request.path))
        self.sleep(self.latency)
        fault = self.faults.take(request.method, request.path)
        if fault is not None:
            logger.info(
                "%s emulator: injecting %s fault on %s %s",
                self.name,
                fault.kind,
                request.method,
                request.path,
            )
            if fault.kind == "drop":
                return None
            if fault.kind == "delay":
                self.sleep(fault.seconds)
            else:
                response = self.fault_response(fault, request)
                if fault.retry_after is not None:
                    response.headers["Retry-After"] = _format_seconds(fault.retry_after)
                return response
        try:
            return self.handle(request)
        except Exception:
            logger.exception("%s emulator: internal error on %s", self.name, request.path)
            return Response(500, {"message": "emulator internal error"})


def _format_seconds(seconds: float) -> str:
    """Format Retry-After as HTTP defines it: whole seconds, so fractions round up."""
    return str(math.ceil(seconds))


def _make_handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s emulator: " + format, emulator.name, *args)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            response = emulator.dispatch(request)
            if response is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = response.encode()
            try:
                self.send_response(response.status)
                headers = {"Content-Type": "application/json;charset=UTF-8", **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up first, as it does after its read timeout.
                logger.debug("%s emulator: client closed %s early", emulator.name, parts.path)

        do_GET = _serve
        do_POST = _serve
        do_PATCH = _serve
        do_PUT = _serve
        do_DELETE = _serve

    return Handler


class RateWindow:
    """Counts requests in a sliding one-second window to emulate a per-second rate limit."""

    def __init__(self, per_second: float | None) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        if not self.per_second:
            return True
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] >= 1.0:
                self._times.popleft()
            if len(self._times) >= self.per_second:
                return False
            self._times.append(now)
            return True


class JsonlFixture:
    """Records of one JSON Lines fixture file, reloaded when the file changes on disk."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: list[dict[str, Any]] = []

    def records(self) -> list[dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._records = _read_jsonl(self.path)
                self._stamp = stamp
            return self._records


def _read_jsonl(path: Any) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"{path}:{line_number}: invalid JSON in an emulator fixture: {error.msg}"
                ) from error
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_number}: a fixture line must be a JSON object")
            records.append(record)
    return records
