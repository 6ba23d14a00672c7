"""The only place that reads the environment."""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    # As root, a per-user directory would be under /root, which the embedded
    # server's system user cannot traverse (and should not be opened up).
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/gql-server")
    return Path(platformdirs.user_data_dir("gql-server"))


SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> "SmtpServer":
        """The server an SMTP URL names; ValueError saying what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in SMTP_SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(SMTP_SCHEMES)}")
        if not parts.hostname:
            raise ValueError("it names no host")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("it may only name a scheme, credentials, a host and a port")
        try:
            port = parts.port or SMTP_SCHEMES[parts.scheme]
        except ValueError:
            raise ValueError("its port is not a number from 1 to 65535") from None
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.scheme, parts.hostname, port, user, password)

    def __repr__(self) -> str:  # never the password
        return f"SmtpServer({self.scheme}://{self.host}:{self.port})"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GQL_SERVER_",
        extra="ignore",
        populate_by_name=True,
        # An invalid value is named, never repeated: DATABASE_URL and
        # GQL_SERVER_SMTP_URL may carry passwords.
        hide_input_in_errors=True,
    )

    # DATABASE_URL is read without the prefix: it is the conventional name.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=default_data_dir)
    token_ttl: int = Field(default=86400, gt=0)
    # argon2id cost: OWASP's m=19 MiB, t=2, p=1. Each guess costs 19 MiB of
    # memory (what makes GPU cracking dear) and little CPU, so a sign-in stays
    # fast; online guessing is capped by the lockout anyway. Measure with
    # bench/hashing.py (figures in docs/performance.md); stored hashes with other
    # parameters still verify and are rehashed at the next sign-in.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # A request's line and headers must arrive within this (else 408, closed).
    request_head_seconds: float = Field(default=10, gt=0)
    # An answer larger than this is refused (400) instead of sent: what the cost
    # estimate lets through (long strings) stops here.
    max_response_bytes: int = Field(default=16 << 20, gt=0)
    # Per-attendee exports (viewers.csv / .ndjson) at once, in a process and per
    # token; a download whose client takes nothing for this long is dropped.
    export_concurrency: int = Field(default=4, ge=1)
    export_per_token: int = Field(default=2, ge=1)
    export_stall_seconds: float = Field(default=30, gt=0)
    # Per client address and process (services/throttle.py): sign-ins and
    # password checks, and sign-ups, a minute (as many at once).
    sign_ins_per_minute: int = Field(default=30, ge=1)
    sign_ups_per_minute: int = Field(default=10, ge=1)
    # One WebSocket message (subscriptions send small ones); larger: close 1009.
    max_ws_message_bytes: int = Field(default=65_536, gt=0)
    pool_min_size: int = Field(default=2, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    # Seconds before a request is answered 503 whatever it is waiting for
    # (a statement alone is given up after 15 s: db.COMMAND_TIMEOUT_SECONDS).
    request_timeout: float = Field(default=30, gt=0)
    # Refused at validation, before any resolver runs. Sized so that every
    # dashboard query passes (the deepest, event > sessions > edges > node >
    # watchTime > live, has depth 5 as Strawberry's limiter counts).
    max_query_depth: int = Field(default=8, ge=1)  # introspection fields not counted
    max_aliases: int = Field(default=30, ge=0)
    # Counted with every fragment expanded where it is spread (gql_server/engine/limits.py).
    max_fields: int = Field(default=2000, ge=1)
    # Fields one selection set collects, its fragments included: graphql-core's
    # overlapping-fields rule is quadratic in it (495 took 1.2 s).
    max_selections: int = Field(default=100, ge=1)
    # The estimated cost of an operation (docs/security.md has the weights).
    max_query_cost: int = Field(default=50_000, ge=1)
    max_tokens: int = Field(default=2000, ge=10)
    # A document's text, comments included (a parsed document keeps it).
    max_document_bytes: int = Field(default=102_400, ge=1024)
    # Off: graphql-core's and Strawberry's general execution, variable coercion
    # and input conversion instead of the fast paths (same answers, slower;
    # bench/peer.py measures both in the same rounds, bench/ingest.py --plain).
    fast_paths: bool = True
    # The engine's one cache (parsed and validated documents, cost, plans), in
    # estimated bytes (gql_server/engine/cache.py).
    cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    introspection: bool = True  # GQL_SERVER_INTROSPECTION=false turns it off
    graphiql: bool = True  # GQL_SERVER_GRAPHIQL=false: GET /graphql in a browser is 400
    # Browser origins allowed to call the API (JSON list); none by default.
    cors_origins: list[str] = Field(default_factory=list)

    # Webhooks (docs/webhooks.md). The delivery worker and the scheduler run in
    # every server process (one claim per message across them).
    webhook_worker: bool = True
    # Host names (or addresses) webhooks may go to even when they resolve to
    # loopback or private addresses (JSON list), e.g. a receiver on this machine.
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    # session.ended waits this long after a session's endTime for late data.
    webhook_grace_seconds: int = Field(default=900, ge=0)
    # How often the worker looks for messages to send and sessions that ended.
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    # Seconds before each retry after a failed attempt; after the last, the
    # message is FAILED. The default is Standard Webhooks' (Svix's) schedule:
    # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts over 27.6 hours.
    webhook_retry_schedule: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    # One attempt: connecting, and the whole exchange.
    webhook_connect_timeout: float = Field(default=3.0, gt=0)
    webhook_timeout: float = Field(default=10.0, gt=0)
    # Messages sent at once (to different endpoints; one at a time per endpoint).
    webhook_concurrency: int = Field(default=4, ge=1, le=64)
    # Delivered and failed messages (and their attempt logs) are kept this long.
    webhook_retention_days: int = Field(default=30, ge=1)

    # Mail (gql_server/mail.py): email verification for attendee lists. An SMTP
    # server as smtp://, smtp+starttls:// or smtps://[user:password@]host[:port];
    # or the console (serve --demo); neither: no mail is sent.
    smtp_url: str | None = None
    mail_to_console: bool = False
    mail_from: str = "gql-server <no-reply@localhost>"
    # The server's log lines: text, or one JSON object a line (web/serving.py).
    log_format: Literal["text", "json"] = "text"
    # serve --demo: a few demo viewers keep watching the live demo session (demo.py).
    demo_audience: bool = False
    # Prometheus metrics at /metrics (telemetry/metrics.py, docs/operations.md),
    # answered to loopback callers and to those that send this token as
    # `Authorization: Bearer <token>`; 403 to anyone else. false: 404, nothing counted.
    metrics: bool = True
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    # Operation names that get a series of their own (JSON list), besides those of
    # the clients this package ships; any other name is counted as "other".
    metrics_operations: list[str] = Field(default_factory=list, max_length=200)
    # Where prometheus-client's multiprocess mode keeps every process's values; `serve
    # --workers N` (N > 1) makes one and sets it. Read by prometheus-client itself too.
    prometheus_multiproc_dir: str | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )
    # OpenTelemetry traces (telemetry/tracing.py): off unless an OTLP endpoint is
    # given or OTEL_TRACES_EXPORTER names an exporter (otlp or console). The SDK
    # reads its other OTEL_* variables itself (docs/operations.md lists them).
    otel_sdk_disabled: bool = Field(default=False, validation_alias="OTEL_SDK_DISABLED")
    otel_traces_exporter: str | None = Field(default=None, validation_alias="OTEL_TRACES_EXPORTER")
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    otel_exporter_otlp_protocol: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    otel_exporter_otlp_traces_protocol: str | None = Field(
        default=None, validation_alias="OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    )
    # The address users reach this server at, for links in messages (never
    # taken from a request's Host header); `serve` defaults it to its own.
    public_url: str | None = None

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_names_a_server(cls, value: str | None) -> str | None:
        if value:
            try:
                SmtpServer.parse(value)
            except ValueError as error:
                raise ValueError(f"GQL_SERVER_SMTP_URL: {error}") from None
        return value or None

    @property
    def traces_exporter(self) -> Literal["otlp", "console"] | None:
        """Where traces go: an OTLP endpoint (over HTTP), the console, or nowhere (off)."""
        if self.otel_sdk_disabled:
            return None
        named = (self.otel_traces_exporter or "").strip().lower()
        if named in ("otlp", "console"):
            return named  # type: ignore[return-value]
        if not named and (
            self.otel_exporter_otlp_endpoint or self.otel_exporter_otlp_traces_endpoint
        ):
            return "otlp"
        return None

    @field_validator("prometheus_multiproc_dir")
    @classmethod
    def _unset_when_empty(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("otel_traces_exporter")
    @classmethod
    def _known_exporter(cls, value: str | None) -> str | None:
        if value and value.strip().lower() not in ("otlp", "console", "none"):
            raise ValueError("OTEL_TRACES_EXPORTER: this server exports to otlp or console")
        return value

    @field_validator("otel_exporter_otlp_protocol", "otel_exporter_otlp_traces_protocol")
    @classmethod
    def _http_protocol(cls, value: str | None) -> str | None:
        if value and value.strip().lower() != "http/protobuf":
            raise ValueError(
                "OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL: this server sends OTLP over"
                " http/protobuf (the collector's port 4318), not grpc or http/json"
            )
        return value

    @field_validator("metrics_operations")
    @classmethod
    def _operation_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[_A-Za-z][_0-9A-Za-z]{0,99}", name):
                raise ValueError(
                    "GQL_SERVER_METRICS_OPERATIONS: each item must be a GraphQL operation"
                    " name of at most 100 characters"
                )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value and (
            urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc
        ):
            raise ValueError("GQL_SERVER_PUBLIC_URL must be an http:// or https:// address")
        return value or None
