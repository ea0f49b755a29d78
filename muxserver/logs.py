"""Logs: the server's own log, the access log, and each tenant's log.

Tenant lines (``print()``, ``mux.log()``, tracebacks of tenant errors) go
to a ring buffer per tenant, served by ``/_mux/tenants/<t>/logs``, and to
the server log tagged with tenant and request id, so an operator can answer
"why did tenant X get a 5xx?" from either place.
"""

from __future__ import annotations

import collections
import json
import logging
import sys
import time

#: Lines kept per tenant.
TENANT_LOG_LINES = 1000

server_log = logging.getLogger("muxserver")
access_log = logging.getLogger("muxserver.access")
tenant_log = logging.getLogger("muxserver.tenant")


class TenantLogs:
    """The last lines each tenant logged."""

    def __init__(self, lines: int = TENANT_LOG_LINES):
        self._lines = lines
        self._buffers: dict[str, collections.deque] = {}

    def write(self, tenant: str, request_id: str | None, line: str, level: str = "info") -> None:
        buffer = self._buffers.get(tenant)
        if buffer is None:
            buffer = self._buffers[tenant] = collections.deque(maxlen=self._lines)
        entry = {
            "time": time.time(),
            "request_id": request_id,
            "level": level,
            "line": line,
        }
        buffer.append(entry)
        tenant_log.log(
            logging.ERROR if level == "error" else logging.INFO,
            "%s",
            line,
            extra={"tenant": tenant, "request_id": request_id},
        )

    def tail(self, tenant: str, limit: int | None = None) -> list[dict]:
        buffer = self._buffers.get(tenant, ())
        entries = list(buffer)
        return entries[-limit:] if limit else entries

    def drop(self, tenant: str) -> None:
        self._buffers.pop(tenant, None)


class _TextFormatter(logging.Formatter):
    def format(self, record):
        base = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname:<5} {record.name}"
        tags = ""
        tenant = getattr(record, "tenant", None)
        if tenant:
            tags = f" tenant={tenant}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            tags += f" rid={request_id}"
        text = f"{base}{tags}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _JsonFormatter(logging.Formatter):
    _FIELDS = ("tenant", "request_id", "endpoint", "status", "duration_ms", "cold", "method", "path")

    def format(self, record):
        doc = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self._FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["traceback"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(fmt: str = "text", level: int = logging.INFO, access: bool = True) -> None:
    """Send the server's logs to stderr in ``fmt`` (``text`` or ``json``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger("muxserver")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    access_log.disabled = not access
