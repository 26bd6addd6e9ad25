"""Live statistics for operators: serve every member stream's statistics in
the Prometheus text format, as ``chunkgroup-recv --metrics`` does::

    server = chunkgroup.metrics.serve(group, 9100)      # http://127.0.0.1:9100/metrics
    ...
    server.close()

Names and labels are those of the Go exporter (core/metrics):
``chunkgroup_stream_<statistic>_total{stream="<index>"}`` for counters and
``chunkgroup_stream_<statistic>{stream="<index>"}`` for maxima.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List

__all__ = ["CONTENT_TYPE", "exposition", "serve", "MetricsServer"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PREFIX = "chunkgroup_stream_"


def _members(source: Any) -> List[Any]:
    """The streams of a group (any sequence of members) or a single stream."""
    if hasattr(source, "stats"):
        return [source]
    return list(source)


def exposition(source: Any) -> str:
    """The Prometheus text exposition of the statistics of ``source``: a
    ChunkStreamRingGroup, a ChunkRingStream, or an iterable of them."""
    from .recv import StreamStatConfig

    streams = _members(source)
    if not streams:
        return ""
    snaps = [s.stats for s in streams]
    out = []
    for k, cfg in enumerate(snaps[0]._config):  # names and modes, in index order
        name = _PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", cfg.name)
        kind = "gauge"
        if cfg.mode == StreamStatConfig.Mode.COUNTER:
            name, kind = name + "_total", "counter"
        out.append(f"# HELP {name} chunkgroup statistic {cfg.name}, per member stream.")
        out.append(f"# TYPE {name} {kind}")
        for i, st in enumerate(snaps):
            out.append(f'{name}{{stream="{i}"}} {st[k]}')
    return "\n".join(out) + "\n"


class MetricsServer:
    """An HTTP server answering ``GET /metrics`` in a daemon thread."""

    def __init__(self, source: Any, port: int, host: str = "127.0.0.1") -> None:
        holder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exposition(holder._source).encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass  # scrapes are not news

        self._source = source
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="chunkgroup-metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return self._httpd.server_address[1]

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> "MetricsServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def serve(source: Any, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve the statistics of ``source`` (a group, a ring stream, or an
    iterable of them) at ``http://host:port/metrics`` until ``close()``."""
    return MetricsServer(source, port, host)
