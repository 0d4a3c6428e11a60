"""The ASGI app of `scops-tui serve` (Starlette): the endpoints, and one gate in front of them that
checks keys, permissions and rate limits, counts every request and logs each keyed one."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scops_tui import config
from scops_tui.api import keys, predict, readings
from scops_tui.api.prometheus import CONTENT_TYPE, ApiMetrics
from scops_tui.api.ratelimit import RateLimiter
from scops_tui.api.usage import PredictionRow, UsageLog, UsageRow
from scops_tui.errors import ScopsError
from scops_tui.store.database import open_reader
from scops_tui.store.timestamps import now_ms

log = logging.getLogger("scops_tui.api")

MAX_BODY_BYTES = 64 * 1024
"""Larger request bodies are refused with 413."""
MAX_KEY_CHARS = 512

ENDPOINTS: dict[str, str | None] = {
    "/health": None,
    "/openapi.json": None,
    "/metrics": "read",
    "/ml/metrics": "read",
    "/ml/predict": "write",
}
"""Each path and the key permission it needs (None: open)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class ServiceConfig:
    """What the app serves and how."""

    db_path: Path
    source: str
    """The source `/ml/metrics` and `/ml/predict` use when a request names none."""
    busy_timeout_ms: int = 5000
    stale_after_s: float = 60.0
    """`/health` says degraded when the newest sample is older than this."""


class ReaderPool:
    """One read-only connection per thread (SQLite connections belong to one thread)."""

    def __init__(self, db_path: Path, busy_timeout_ms: int) -> None:
        self.db_path = db_path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_reader(self.db_path, busy_timeout_ms=self.busy_timeout_ms)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection (at shutdown, once no request runs)."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The one shape of every error: `{"error": "..."}`."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Service:
    """Everything the endpoints share: config, connections, the usage log, predictions, metrics."""

    def __init__(self, config: ServiceConfig, usage: UsageLog) -> None:
        self.config = config
        self.readers = ReaderPool(config.db_path, config.busy_timeout_ms)
        self.usage = usage
        self.predictions = predict.PredictionService(config.db_path, self.readers.get)
        self.metrics = ApiMetrics(config.db_path, self.readers.get, usage)
        self.limiter = RateLimiter()

    # -- endpoints --------------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        try:
            found = readings.health(self.readers.get(), self.config.db_path, self.config.stale_after_s)
        except (sqlite3.Error, ScopsError, OSError) as exc:
            log.warning("/health: the database cannot be read: %s", exc)
            return error(503, f"the database cannot be read: {exc}")
        return JSONResponse(found.as_json())

    async def prometheus(self, request: Request) -> Response:
        try:
            body = self.metrics.exposition()
        except (sqlite3.Error, ScopsError) as exc:
            log.warning("/metrics: the database cannot be read: %s", exc)
            return error(503, f"the database cannot be read: {exc}")
        return Response(body, media_type=CONTENT_TYPE)

    async def ml_metrics(self, request: Request) -> Response:
        params = request.query_params
        unknown = sorted(set(params) - {"source", "limit", "episodes"})
        if unknown:
            return error(422, f"parameter {unknown[0]!r}: not a parameter of /ml/metrics (source, limit, episodes)")
        try:
            limit = _bounded(params.get("limit"), "limit", 20, 1000)
            episodes = _bounded(params.get("episodes"), "episodes", 10, 100)
            source = self.config.source
            if params.get("source") is not None:
                try:
                    source = config.source_name(params["source"])
                except ValueError as exc:
                    raise predict.FieldError("source", str(exc)) from None
        except predict.FieldError as exc:
            return error(422, f"parameter {exc.field!r}: {str(exc).split(': ', 1)[1]}")

        def read() -> dict[str, Any]:
            return readings.ml_metrics(self.readers.get(), source, latest=limit, episodes=episodes)

        try:
            body = await run_in_threadpool(read)
        except (sqlite3.Error, ScopsError) as exc:
            log.warning("/ml/metrics: the database cannot be read: %s", exc)
            return error(503, f"the database cannot be read: {exc}")
        return JSONResponse(body)

    async def ml_predict(self, request: Request) -> Response:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, f"the body is not valid JSON: {exc}")
        try:
            record = predict.parse_record(body, self.config.source)
        except predict.FieldError as exc:
            return error(422, str(exc))
        try:
            result = await run_in_threadpool(self.predictions.score, record)
        except predict.NoModelError as exc:
            return error(404, str(exc))
        except (sqlite3.Error, ScopsError) as exc:
            log.warning("/ml/predict: the database cannot be read: %s", exc)
            return error(503, f"the database cannot be read: {exc}")
        self.usage.add(
            PredictionRow(
                model_version_id=result.model_version_id,
                predicted_anomaly=result.is_anomaly,
                confidence_score=result.anomaly_score,
                prediction_time_ms=result.prediction_time_ms,
                model_features=result.features_json(),
                created_at=now_ms(),
            )
        )
        return JSONResponse(result.as_json())

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(OPENAPI)


def _bounded(text: str | None, name: str, default: int, maximum: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise predict.FieldError(name, f"{text!r} is not a whole number from 1 to {maximum}")
    return int(text)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error(404, f"no endpoint {request.url.path} (see /openapi.json)")
    if exc.status_code == 405:
        return error(405, f"method {request.method} is not allowed on {request.url.path}", exc.headers)
    return error(exc.status_code, str(exc.detail))


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error(500, "internal error")


def build_app(service: Service) -> KeyGate:
    """The ASGI app: the gate in front of the Starlette routes."""
    routes = [
        Route("/health", service.health, methods=["GET"]),
        Route("/metrics", service.prometheus, methods=["GET"]),
        Route("/ml/metrics", service.ml_metrics, methods=["GET"]),
        Route("/ml/predict", service.ml_predict, methods=["POST"]),
        Route("/openapi.json", service.openapi, methods=["GET"]),
    ]
    inner = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return KeyGate(inner, service)


def presented_key(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """(key, problem) from `Authorization: Bearer KEY` or `X-API-Key: KEY`; both None when none is given."""
    authorization = api_key = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "the Authorization header must be `Bearer KEY`"
        return token.strip(), None
    if api_key is not None:
        return (api_key.strip(), None) if api_key.strip() else (None, "the X-API-Key header is empty")
    return None, None


class KeyGate:
    """Checks the key of every request to a protected endpoint, counts every request, logs keyed ones."""

    def __init__(self, app: Starlette, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection event."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        state = {"status": 500, "sent": 0, "started": False, "received": 0}

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = int(message["status"])
                state["started"] = True
            elif message["type"] == "http.response.body":
                state["sent"] += len(message.get("body", b""))
            await send(message)

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
            return message

        credential: keys.Credential | None = None
        try:
            secret, header_problem = presented_key(headers)
            refusal: Response | None = None
            if secret is not None and len(secret) <= MAX_KEY_CHARS:
                try:
                    credential = keys.verify_key(self.service.readers.get(), secret, now_ms())
                except (sqlite3.Error, ScopsError) as exc:
                    log.warning("%s: the database cannot be read: %s", path, exc)
                    refusal = error(503, f"the database cannot be read: {exc}")
            needed = ENDPOINTS.get(path)
            if refusal is None and needed is not None:
                refusal = self._admit(needed, secret, header_problem, credential)
            if refusal is None and _declared_length(headers) > MAX_BODY_BYTES:
                refusal = error(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
            if refusal is not None:
                await refusal(scope, counting_receive, counting_send)
            else:
                await self.app(scope, counting_receive, counting_send)
        except Exception as exc:
            # One line, never a traceback: the exception text may hold request data, its type does not.
            log.error("%s %s: internal error (%s)", method, path, type(exc).__name__)
            if not state["started"]:
                await error(500, "internal error")(scope, counting_receive, counting_send)
        finally:
            elapsed = time.perf_counter() - started
            self.service.metrics.observe(path if path in ENDPOINTS else "other", method, state["status"], elapsed)
            if credential is not None:
                client = scope.get("client")
                self.service.usage.add(
                    UsageRow(
                        api_key_id=credential.key_id,
                        endpoint=path,
                        method=method,
                        status_code=state["status"],
                        response_time_ms=round(elapsed * 1000),
                        request_size_bytes=state["received"],
                        response_size_bytes=state["sent"],
                        ip_address=client[0] if client else None,
                        user_agent=_header(headers, b"user-agent"),
                        created_at=now_ms(),
                    )
                )

    def _admit(
        self, needed: str, secret: str | None, header_problem: str | None, credential: keys.Credential | None
    ) -> Response | None:
        challenge = {"WWW-Authenticate": "Bearer"}
        if secret is None:
            message = header_problem or "an API key is required (Authorization: Bearer KEY or X-API-Key: KEY)"
            return error(401, message, challenge)
        if credential is None:
            return error(401, "unknown API key", challenge)
        if credential.refused is not None:
            return error(401, credential.refused, challenge)
        if not keys.allows(credential.permission, needed):
            return error(
                403, f"this endpoint needs a key with {needed} permission; this key has {credential.permission}"
            )
        wait = self.service.limiter.admit(credential.key_id, credential.rate_limit_per_hour, time.time())
        if wait is not None:
            return error(
                429,
                f"rate limit of {credential.rate_limit_per_hour} requests per hour reached; retry in {wait} s",
                {"Retry-After": str(wait)},
            )
        return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")[:500]
    return None


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int:
    text = _header(headers, b"content-length")
    return int(text) if text is not None and text.strip().isdigit() else 0


_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(*codes: int) -> dict[str, Any]:
    texts = {
        400: "malformed JSON",
        401: "no key, or an unknown, revoked or expired key, or its user is disabled",
        403: "the key lacks the permission",
        404: "no deployed model for the source",
        413: "body over 64 KiB",
        422: "a field is missing or out of range",
        429: "the key's hourly limit is reached (see Retry-After)",
        503: "the database cannot be read",
    }
    content = {"application/json": {"schema": _ERROR}}
    return {str(code): {"description": texts[code], "content": content} for code in codes}


_METRIC_PROPERTIES = {
    name: {"type": "number", "minimum": low, "maximum": high} for name, (low, high) in predict.FIELDS.items()
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "scops-tui local API", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
            "MetricsRecord": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "timestamp": {"type": ["string", "number"], "description": "ISO-8601 or epoch s"},
                    "source": {"type": "string", "description": "default: the server's source"},
                    **_METRIC_PROPERTIES,
                },
                "required": [
                    "cpu_usage",
                    "memory_usage",
                    "disk_usage",
                    "load_1m",
                    "disk_io_read",
                    "disk_io_write",
                    "network_rx",
                    "network_tx",
                ],
            },
        },
    },
    "paths": {
        "/health": {
            "get": {
                "summary": "Liveness and data freshness (no key)",
                "responses": {"200": {"description": "status ok or degraded"}, **_responses(503)},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text format (read)",
                "security": [{"bearer": []}, {"apiKey": []}],
                "responses": {"200": {"description": "exposition"}, **_responses(401, 403, 429, 503)},
            }
        },
        "/ml/metrics": {
            "get": {
                "summary": "24-hour summary, latest rows, recent episodes, deployed model (read)",
                "security": [{"bearer": []}, {"apiKey": []}],
                "parameters": [
                    {"name": "source", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                    {"name": "episodes", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                ],
                "responses": {"200": {"description": "summary"}, **_responses(401, 403, 422, 429, 503)},
            }
        },
        "/ml/predict": {
            "post": {
                "summary": "Score one metrics record with its source's deployed model (write)",
                "security": [{"bearer": []}, {"apiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MetricsRecord"}}},
                },
                "responses": {
                    "200": {
                        "description": "the score",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "anomaly_score": {"type": "number"},
                                        "is_anomaly": {"type": "boolean"},
                                        "severity": {"enum": ["low", "medium", "high", "critical"]},
                                        "contributions": {"type": "object"},
                                        "model_version": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    **_responses(400, 401, 403, 404, 413, 422, 429, 503),
                },
            }
        },
    },
}
