"""Prometheus metrics, read from the services' plain counters at scrape time.

Nothing here runs on the ingest path: the services keep ints and the collector turns them
into metric families when Prometheus asks. ``GET /metrics`` needs the bearer token of the
``metrics_token`` setting (no patient data is exposed, but who runs what is not public);
without a token configured the endpoint is off.

Two kinds of series:

* this node's: counters, gauges and histograms kept by the services (label ``node``);
* the cluster's (label ``scope="cluster"``, no ``node``): queues and doctors on duty, read
  from the database by the ``metrics`` handler before it renders, in one database call
  that at most one scrape at a time waits for, up to :data:`CLUSTER_TIMEOUT_S`. Every node
  reports the same values; aggregate them with ``max by (<their labels>)``. When the
  database does not answer in time they are left out of that scrape and
  ``teleconsult_cluster_snapshot_ok`` is 0; the node's own series are always there.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (CollectorRegistry, CounterMetricFamily, GaugeMetricFamily,
                                    HistogramMetricFamily, Metric)
from prometheus_client.registry import Collector

from teleconsult.consults import presence
from teleconsult.consults.lifecycle import ACTIVE, State
from teleconsult.consults.model import URGENCIES
from teleconsult.keys import bus_key, consults_key, db_key, ingest_key, readers_key, settings_key, studies_key
from teleconsult.reading.findings import Priority
from teleconsult.services.consults import ConsultService
from teleconsult.services.observations import Observations
from teleconsult.services.studies import StudyService
from teleconsult.storage.sql import Database

log = logging.getLogger(__name__)
CLUSTER_TIMEOUT_S = 2.0  # a scrape waits this long for the database, then renders without the cluster's series
COUNT_LIMIT = 10_000  # per county: queues and worklists are counted up to this many rows
PRIORITIES = tuple(p.value for p in Priority)
SOURCES = ("stream", "upload")
UNSIGNED = ("received", "claimed")
ACTIVE_STATES = tuple(s.value for s in State if s in ACTIVE)
CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """What every node reads alike from the database (counts only, no rows leave this module)."""

    consults_waiting: dict[str, int]  # urgency -> consults waiting for a county doctor
    consults_waiting_oldest_s: dict[str, float]  # urgency -> age of the oldest (0: none)
    consults_active: dict[str, int]  # state (accepted, connecting, in_call, reconnecting) -> consults
    doctors: dict[str, int]  # "available" | "busy" -> county doctors on duty
    studies_waiting: dict[tuple[str, str], int]  # (priority, received|claimed) -> unsigned studies
    studies_waiting_oldest_s: dict[str, float]  # priority -> age of the oldest unsigned study (0: none)


def read_cluster(db: Database, consults: ConsultService, studies: StudyService, consults_now: float,
                 studies_now: float) -> ClusterSnapshot:
    """The cluster's queues from the database, through the stores' own queries (blocking: run it
    on the database's worker thread, as one call)."""
    consults_waiting = dict.fromkeys(URGENCIES, 0)
    consults_oldest = dict.fromkeys(URGENCIES, 0.0)
    active = dict.fromkeys(ACTIVE_STATES, 0)
    doctors = {"available": 0, "busy": 0}
    studies_waiting = {(p, s): 0 for p in PRIORITIES for s in UNSIGNED}
    studies_oldest = dict.fromkeys(PRIORITIES, 0.0)
    for county_id in sorted({org.county_id for org in db.list_orgs()}):
        for consult in consults.store.queue(county_id, COUNT_LIMIT):
            consults_waiting[consult.urgency] = consults_waiting.get(consult.urgency, 0) + 1
            consults_oldest[consult.urgency] = max(consults_oldest.get(consult.urgency, 0.0),
                                                   consults_now - consult.requested_at)
        busy = consults.store.busy_ids(county_id)
        for acceptor_id in sorted(busy):  # a county doctor is in at most one accepted consult
            current = consults.store.active_for(acceptor_id)
            if current is not None:
                active[current.state] = active.get(current.state, 0) + 1
        for row in consults.store.presence(county_id):
            status = presence.status(row, row.user_id in busy, consults_now, consults.presence_ttl_s)
            if status != presence.OFFLINE:
                doctors["busy" if status == presence.BUSY else "available"] += 1
        for study in studies.store.worklist(county_id, COUNT_LIMIT):
            key = (study.priority, study.status)
            studies_waiting[key] = studies_waiting.get(key, 0) + 1
            studies_oldest[study.priority] = max(studies_oldest.get(study.priority, 0.0),
                                                 studies_now - study.received_at)
    return ClusterSnapshot(consults_waiting, consults_oldest, active, doctors, studies_waiting, studies_oldest)


@dataclass
class ClusterReader:
    """One database read of the cluster's figures at a time, however many scrapes wait for it."""

    task: asyncio.Task[ClusterSnapshot] | None = None
    snapshot: ClusterSnapshot | None = None  # of the current scrape; None: the database did not answer
    seconds: float = 0.0
    failures: int = 0
    _started: float = field(default=0.0, repr=False)

    async def refresh(self, app: web.Application) -> None:
        if self.task is None or self.task.done():
            consults, studies = app[consults_key], app[studies_key]
            call = app[db_key].call(read_cluster, app[db_key].db, consults, studies, consults.clock(),
                                    studies.clock())
            self.task = asyncio.ensure_future(call)
            self.task.add_done_callback(_retrieve)
            self._started = time.monotonic()
        try:
            self.snapshot = await asyncio.wait_for(asyncio.shield(self.task), CLUSTER_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("metrics: the database did not answer within %.1f s", CLUSTER_TIMEOUT_S)
            self.snapshot = None
            self.failures += 1
        except Exception:
            log.exception("metrics: reading the cluster's figures failed")
            self.snapshot = None
            self.failures += 1
        self.seconds = time.monotonic() - self._started

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


def _retrieve(task: asyncio.Task[ClusterSnapshot]) -> None:
    """A read that finished after its scrape gave up: its exception was logged there, or is moot."""
    if not task.cancelled():
        task.exception()


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _histogram(name: str, doc: str, label: str, node: str,
               series: Mapping[str, Observations]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["node", label])
    for value, obs in sorted(series.items()):
        family.add_metric([node, value], [(_le(b), n) for b, n in obs.cumulative()], obs.sum)
    return family


def _consult_families(node: str, consults: ConsultService) -> Iterator[Metric]:
    stats = consults.stats
    requested = CounterMetricFamily("teleconsult_consults_requested", "Consults requested on this node, by urgency",
                                    labels=["node", "urgency"])
    for urgency in sorted({*URGENCIES, *stats.requested}):
        requested.add_metric([node, urgency], stats.requested[urgency])
    yield requested
    moves = CounterMetricFamily("teleconsult_consult_transitions",
                                "Consult state changes made by this node (no self-loops), by from, to and event",
                                labels=["node", "from", "to", "event"])
    for (before, after, event), count in sorted(stats.transitions.items()):
        moves.add_metric([node, before, after, event], count)
    yield moves
    ended = CounterMetricFamily("teleconsult_consults_ended", "Consults ended by this node, by outcome and urgency",
                                labels=["node", "outcome", "urgency"])
    for (outcome, urgency), count in sorted(stats.ended.items()):
        ended.add_metric([node, outcome, urgency], count)
    yield ended
    yield _histogram("teleconsult_consult_setup_seconds",
                     "Request to first in call, seconds, observed when the call comes up on this node",
                     "urgency", node, stats.setup_s)
    sockets = GaugeMetricFamily("teleconsult_consult_sockets", "Consult signalling sockets connected to this node",
                                labels=["node", "role"])
    for role in sorted({"village", "county", *stats.sockets}):
        sockets.add_metric([node, role], stats.sockets[role])
    yield sockets
    relayed = CounterMetricFamily("teleconsult_consult_signals_relayed",
                                  "Signalling messages this node's sockets put on consult channels, by type",
                                  labels=["node", "type"])
    for kind, count in sorted(stats.relayed.items()):
        relayed.add_metric([node, kind], count)
    yield relayed


def _report_families(node: str, studies: StudyService) -> Iterator[Metric]:
    stats = studies.stats
    received = CounterMetricFamily("teleconsult_studies_received",
                                   "Studies received on this node, by source and (effective) priority",
                                   labels=["node", "source", "priority"])
    for source, priority in sorted({*((s, p) for s in SOURCES for p in PRIORITIES), *stats.received}):
        received.add_metric([node, source, priority], stats.received[(source, priority)])
    yield received
    for name, doc, counts in (
            ("teleconsult_reports_signed", "Reports signed on this node (first signature of a study)", stats.signed),
            ("teleconsult_reports_amended", "Signed reports amended on this node", stats.amended),
            ("teleconsult_reports_delivered", "Delivery receipts (first per report version)", stats.delivered),
            ("teleconsult_reports_acknowledged", "Acknowledgements (first per report version)", stats.acknowledged)):
        family = CounterMetricFamily(name, doc + ", by priority", labels=["node", "priority"])
        for priority in sorted({*PRIORITIES, *counts}):
            family.add_metric([node, priority], counts[priority])
        yield family
    escalated = CounterMetricFamily("teleconsult_reports_escalated",
                                    "Critical reports escalated by this node (unacknowledged)", labels=["node"])
    escalated.add_metric([node], stats.escalated)
    yield escalated
    yield _histogram("teleconsult_report_tat_seconds",
                     "Report turnaround, received to first signed, seconds, observed at signing on this node",
                     "priority", node, stats.tat_s)
    yield _histogram("teleconsult_report_delivery_seconds",
                     "First signed to first delivered to the village, seconds, observed at delivery on this node",
                     "priority", node, stats.delivery_s)


def _cluster_families(snap: ClusterSnapshot) -> Iterator[Metric]:
    def family(name: str, doc: str, labels: list[str], values: Mapping[str, float]) -> GaugeMetricFamily:
        out = GaugeMetricFamily(name, doc + " (cluster-wide: every node reports the same)", labels=["scope", *labels])
        for value, number in sorted(values.items()):
            out.add_metric([CLUSTER, value], number)
        return out

    yield family("teleconsult_consults_waiting", "Consults waiting for a county doctor, by urgency", ["urgency"],
                 snap.consults_waiting)
    yield family("teleconsult_consults_waiting_oldest_seconds",
                 "How long the longest-waiting consult has waited, by urgency (0: none)", ["urgency"],
                 snap.consults_waiting_oldest_s)
    yield family("teleconsult_consults_active", "Accepted consults not ended, by state", ["state"],
                 snap.consults_active)
    yield family("teleconsult_doctors_on_duty", "County doctors on duty, available or busy in a consult", ["status"],
                 snap.doctors)
    studies = GaugeMetricFamily("teleconsult_studies_waiting",
                                "Unsigned studies, by priority and status (received: nobody reads it yet; claimed: "
                                "being read) (cluster-wide: every node reports the same)",
                                labels=["scope", "priority", "status"])
    for (priority, status), number in sorted(snap.studies_waiting.items()):
        studies.add_metric([CLUSTER, priority, status], number)
    yield studies
    yield family("teleconsult_studies_waiting_oldest_seconds",
                 "How long the longest-waiting unsigned study has waited, by priority (0: none)", ["priority"],
                 snap.studies_waiting_oldest_s)


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

        yield from _consult_families(node, self.app[consults_key])
        yield from _report_families(node, self.app[studies_key])

        cluster = self.app[cluster_key]
        yield gauge("teleconsult_cluster_snapshot_ok",
                    "1 when this scrape carries the cluster-wide series, 0 when the database did not answer in time",
                    0 if cluster.snapshot is None else 1)
        yield gauge("teleconsult_cluster_snapshot_seconds", "How long reading the cluster-wide series took",
                    cluster.seconds)
        yield counter("teleconsult_cluster_snapshot_failures", "Scrapes that went without the cluster-wide series",
                      cluster.failures)
        if cluster.snapshot is not None:
            yield from _cluster_families(cluster.snapshot)


registry_key = web.AppKey("metrics_registry", CollectorRegistry)
cluster_key = web.AppKey("metrics_cluster", ClusterReader)


async def _cancel_cluster_read(app: web.Application) -> None:
    app[cluster_key].cancel()


def setup_metrics(app: web.Application) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(app))
    app[registry_key] = registry
    app[cluster_key] = ClusterReader()
    app.on_shutdown.append(_cancel_cluster_read)


async def metrics(request: web.Request) -> web.Response:
    token = request.app[settings_key].metrics_token
    if not token:
        raise web.HTTPNotFound(reason="metrics are off (set metrics_token)")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise web.HTTPUnauthorized(reason="metrics token required", headers={"WWW-Authenticate": "Bearer"})
    await request.app[cluster_key].refresh(request.app)
    body = generate_latest(request.app[registry_key])  # no await since the refresh: this scrape's snapshot
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
