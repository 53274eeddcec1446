"""Prometheus metrics, read from the services' plain counters at scrape time.

Nothing here runs on the ingest path: the services keep ints and the collector turns them
into metric families when Prometheus asks. ``GET /metrics`` needs the bearer token of the
``metrics_token`` setting (no patient data is exposed, but who runs what is not public);
without a token configured the endpoint is off.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from teleconsult.keys import bus_key, ingest_key, readers_key, settings_key

registry_key = web.AppKey("metrics_registry", CollectorRegistry)


class ServiceCollector(Collector):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        node = self.app[settings_key].node_id
        ingest = self.app[ingest_key]
        stats = ingest.stats
        streams = list(ingest.streams.values())

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["node"])
            family.add_metric([node], value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["node"])
            family.add_metric([node], value)
            return family

        yield gauge("teleconsult_streams_live", "Device streams connected to this node",
                    sum(1 for s in streams if s.connection is not None))
        yield gauge("teleconsult_streams_open", "Recordings this node holds open (connected or awaiting resume)",
                    len(streams))
        yield counter("teleconsult_frames_received", "Data frames stored by this node", stats.frames)
        yield counter("teleconsult_samples_received", "Samples (per lead) stored by this node", stats.samples)
        yield counter("teleconsult_beats_detected", "QRS complexes detected live", stats.beats)
        yield counter("teleconsult_streams_opened", "Device hellos accepted", stats.opened)
        closes = CounterMetricFamily("teleconsult_device_closes", "Device sockets closed, by close code",
                                     labels=["node", "code"])
        for code, count in sorted(stats.closes.items()):
            closes.add_metric([node, str(code)], count)
        yield closes
        yield counter("teleconsult_commits", "Group commits (one journal fdatasync, then acks)", stats.commits)
        yield counter("teleconsult_commit_seconds_sum", "Time spent in group-commit fdatasync", stats.commit_seconds_sum)
        yield gauge("teleconsult_commit_seconds_max", "Longest group commit since start", stats.commit_seconds_max)

        readers = self.app[readers_key]
        totals = readers.totals()
        yield gauge("teleconsult_readers_connected", "Reader sockets on this node", len(readers.sessions))
        yield gauge("teleconsult_reader_queue_frames", "Display frames waiting in reader queues (reader lag)",
                    sum(s.queue.max_display_frames - s.queue.free_display_slots for s in readers.sessions))
        yield counter("teleconsult_reader_frames_dropped", "Display frames dropped for slow readers (told with a gap)",
                      totals.display_frames_dropped)
        yield counter("teleconsult_reader_frames_filled", "Frames the bus lost, read back from the archive",
                      totals.frames_filled_from_archive)

        bus = self.app[bus_key].counters()
        yield counter("teleconsult_bus_items_published", "Live items handed to the bus", bus.published)
        yield counter("teleconsult_bus_items_dropped", "Live sample items dropped while the bus was unreachable",
                      bus.dropped)
        yield gauge("teleconsult_bus_items_pending", "Live items waiting for the bus (bus lag)", bus.pending)


def setup_metrics(app: web.Application) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(app))
    app[registry_key] = registry


async def metrics(request: web.Request) -> web.Response:
    token = request.app[settings_key].metrics_token
    if not token:
        raise web.HTTPNotFound(reason="metrics are off (set metrics_token)")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise web.HTTPUnauthorized(reason="metrics token required", headers={"WWW-Authenticate": "Bearer"})
    body = generate_latest(request.app[registry_key])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
