"""Load-test the ECG streaming path: simulated 12-lead devices and readers against teleconsult.

    loadtest --devices 100 --duration-s 30
    loadtest --steps 50,100,150,200 --duration-s 20 --fail-under 100
    loadtest --ramp 0:0,30:100,90:100 --workers 2 --fail-if "reader_p99_ms>100" --fail-if "lost_samples>0"
    loadtest --nodes 2 --redis auto --devices 50 --readers-on other --json r.json --html r.html
    loadtest --devices 100 --reports-per-min 30 --consults 20 --fail-if "report_push_p99_ms>1000"
    loadtest --url http://127.0.0.1:8080 --tokens-file tokens.jsonl --reader-user loadreader \\
             --reader-password-file pw.txt --devices 20

Without --url it starts its own servers (--nodes, default 1) on a fresh data directory
per step, seeded with a county reader and one device token per device. Each device
streams a 12-lead ECG in 40 ms frames (a CPSC 2018 record from ../shared/data, or
--record synthetic) and has --readers readers watching it at full rate. After the run
every recording is fetched back through the server's WFDB export and compared with what
was sent. --reports-per-min and --consults add the county's other traffic beside the
streams (servers loadtest starts only): village doctors' 12-lead ECGs read and signed by
county readers, the report pushed back (report turnaround under load), and concurrent
consults' signalling (see loadtest/clinic.py). --steps runs each device count as its own run (fresh servers); --ramp gives
one run a profile ("t:n,t:n,…" seconds:devices, or "steps:n,n,…@hold_s").

Exit status: 0 passed; 1 a --fail-if threshold or --fail-under was breached; 2 bad
arguments; 3 the run could not be carried out (a server or worker failed).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

from loadtest.ecg_source import SYNTHETIC
from loadtest.plan import READERS_ON
from loadtest.profile import Profile, ProfileError, constant, parse_ramp
from loadtest.progress import Progress
from loadtest.report import clinic_line, document, error_lines, table_header, table_row, write_json
from loadtest.resources import ProcessSeries
from loadtest.results import METRICS, RunResult
from loadtest.run import ClinicSpec, RunError, RunSpec, Target, login, run_step, warm_up
from loadtest.seed import READER_USERNAME, seed
from loadtest.targets import REPO, LocalRedis, Node, TargetError, start_nodes, stop_nodes
from loadtest.thresholds import Threshold, ThresholdError, check, parse_threshold

DEFAULT_RECORD = REPO.parent / "shared" / "data" / "cpsc2018" / "challenge2020_wfdb" / "A0005"
PASSWORD_ENV = "LOADTEST_READER_PASSWORD"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    load = p.add_argument_group("load")
    load.add_argument("--devices", type=int, default=50, help="devices streaming at once (default 50)")
    load.add_argument("--duration-s", type=float, default=20.0, help="length of each run (default 20)")
    load.add_argument("--steps", help="comma-separated device counts, each a run of its own on fresh servers")
    load.add_argument("--ramp", help='one run following a profile: "0:0,30:100,90:100" or "steps:25,50@10"')
    load.add_argument("--readers", type=int, default=1, help="readers per device (default 1)")
    load.add_argument("--readers-on", choices=READERS_ON, default="other",
                      help="readers on another node than their device (default) or the same one")
    load.add_argument("--workers", type=int, default=1, help="load-generator processes (default 1)")
    load.add_argument("--record", help=f"12-lead WFDB record, or {SYNTHETIC!r} (default CPSC 2018 A0005 if present)")
    load.add_argument("--frame-s", type=float, default=0.04, help="samples per frame, in seconds (default 0.04)")
    load.add_argument("--warmup-s", type=float, default=2.0,
                      help="leave the first seconds (the devices' connection storm) out of the latency, "
                           "throughput and CPU figures; never out of the loss figures (default 2)")
    load.add_argument("--drain-s", type=float, default=30.0,
                      help="after the profile, how long recordings may take to finish (default 30)")
    clinic = p.add_argument_group("report and consult traffic")
    clinic.add_argument("--reports-per-min", type=float, default=0.0,
                        help="10-s 12-lead ECGs uploaded for reading per minute, read, signed and pushed back "
                             "(default 0: none)")
    clinic.add_argument("--read-s", type=float, default=5.0,
                        help="how long a county reader reads each ECG before signing (default 5)")
    clinic.add_argument("--report-readers", type=int, default=2, help="county readers reading them (default 2)")
    clinic.add_argument("--consults", type=int, default=0,
                        help="consults held at once (signalling without media), one after another per pair of "
                             "doctors (default 0: none)")
    clinic.add_argument("--consult-hold-s", type=float, default=20.0, help="length of each consult (default 20)")
    target = p.add_argument_group("target")
    target.add_argument("--nodes", type=int, default=1, help="server processes to start (default 1)")
    target.add_argument("--redis", help="Redis URL for the nodes' bus, or 'auto' to start a redis-server of our own")
    target.add_argument("--database-url", default="",
                        help="PostgreSQL URL for the nodes' records (default: SQLite in the run's data directory); "
                             "each step seeds its own organisations and accounts into it")
    target.add_argument("--node-cpu", type=float, metavar="CORES",
                        help="limit each server it starts to this many cores (a cgroup of its own, as a container's "
                             "CPU limit; needs root): shows scale-out on one machine, e.g. one node at 0.5 against "
                             "two at 0.5 each")
    target.add_argument("--url", action="append", default=[], help="an existing server (repeat for several nodes)")
    target.add_argument("--tokens-file", help="with --url: device tokens, one per line (or the JSON lines of "
                                              "'teleconsult admin device-token')")
    target.add_argument("--reader-user", default=READER_USERNAME, help="with --url: a county reader's username")
    target.add_argument("--reader-password-file", help=f"with --url: that reader's password (or ${PASSWORD_ENV})")
    target.add_argument("--server-pid", type=int, action="append", default=[],
                        help="with --url: a local server process to sample CPU and RSS of (repeatable)")
    verdict = p.add_argument_group("results")
    verdict.add_argument("--p99-ms", type=float, default=100.0,
                         help="device→reader p99 bound for 'sustained' (device→ack with --readers 0)")
    verdict.add_argument("--fail-under", type=int, default=0, help="exit 1 if fewer devices are sustained")
    verdict.add_argument("--fail-if", action="append", default=[], metavar="EXPR",
                         help='exit 1 if true, e.g. "reader_p99_ms>100" (metric, comparison, number; repeatable)')
    verdict.add_argument("--json", type=Path, help="write all results (time series included) to this file")
    verdict.add_argument("--html", type=Path, help="write a self-contained HTML report with plots to this file")
    return p


def _profiles(args: argparse.Namespace) -> list[tuple[str, Profile]]:
    if args.steps and args.ramp:
        raise ProfileError("give --steps or --ramp, not both")
    if args.ramp:
        profile = parse_ramp(args.ramp)
        return [(f"ramp {profile.describe()}", profile)]
    counts = [int(x) for x in args.steps.split(",")] if args.steps else [args.devices]
    return [(f"{n} devices", constant(n, args.duration_s)) for n in counts]


def _read_tokens(path: str) -> list[str]:
    tokens = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        tokens.append(str(json.loads(line)["token"]) if line.startswith("{") else line)
    return tokens


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[Threshold]:
    if args.url:
        if args.nodes != 1 or args.redis or args.database_url or args.node_cpu:
            parser.error("--url targets running servers: --nodes, --redis, --database-url and --node-cpu are for "
                         "servers loadtest starts")
        if not args.tokens_file:
            parser.error("--url needs --tokens-file (device tokens) and the reader's password")
        if not args.reader_password_file and not os.environ.get(PASSWORD_ENV):
            parser.error(f"--url needs --reader-password-file or ${PASSWORD_ENV}")
        if args.reports_per_min or args.consults:
            parser.error("--reports-per-min and --consults need servers loadtest starts (it seeds the doctors)")
    elif args.server_pid:
        parser.error("--server-pid is for --url (servers loadtest starts are sampled anyway)")
    if args.reports_per_min < 0 or args.consults < 0 or args.read_s < 0 or args.report_readers < 1 \
            or args.consult_hold_s < 2:
        parser.error("--reports-per-min, --consults and --read-s must be at least 0, --report-readers at least 1, "
                     "--consult-hold-s at least 2")
    if args.node_cpu is not None and not 0.05 <= args.node_cpu <= (os.cpu_count() or 1):
        parser.error(f"--node-cpu must be between 0.05 and the machine's {os.cpu_count()} cores")
    if args.nodes < 1 or args.workers < 1 or args.readers < 0 or args.devices < 1:
        parser.error("--nodes, --workers and --devices must be at least 1, --readers at least 0")
    if args.nodes > 1 and not args.redis:
        parser.error("--nodes > 1 needs a bus: --redis URL or --redis auto")
    if args.html and importlib.util.find_spec("matplotlib") is None:
        parser.error("--html needs matplotlib: pip install 'teleconsult[loadtest]'")
    try:
        return [parse_threshold(text, METRICS) for text in args.fail_if]
    except ThresholdError as exc:
        parser.error(str(exc))


def _spec(args: argparse.Namespace, label: str, profile: Profile, record: str) -> RunSpec:
    clinic = ClinicSpec(args.reports_per_min, args.read_s, args.report_readers, args.consults, args.consult_hold_s)
    return RunSpec(label, profile, args.workers, args.readers, args.readers_on, record, args.frame_s,
                   args.warmup_s, args.drain_s, args.p99_ms, clinic)


async def _run_all(args: argparse.Namespace, specs: list[RunSpec], progress: Progress) -> list[RunResult]:
    runs: list[RunResult] = []
    print(table_header(), flush=True)

    def done(run: RunResult) -> None:
        runs.append(run)
        print(table_row(run) + f"  {run.label}", flush=True)
        if run.clinic is not None:
            print(clinic_line(run), flush=True)

    if args.url:
        password = (Path(args.reader_password_file).read_text(encoding="utf-8").strip()
                    if args.reader_password_file else os.environ[PASSWORD_ENV])
        session = await login(args.url[0], args.reader_user, password)
        tokens = _read_tokens(args.tokens_file)
        for spec in specs:
            nodes = [Node(url.rstrip("/"), f"node-{k}") for k, url in enumerate(args.url)]
            pids = [ProcessSeries(pid, f"server pid {pid}", "server") for pid in args.server_pid]
            done(await run_step(spec, Target(nodes, tokens, session, "existing", other_processes=pids), progress))
        return runs
    with tempfile.TemporaryDirectory(prefix="tc-load-") as tmp:
        redis = None
        redis_url = args.redis or ""
        if args.redis == "auto":
            redis = LocalRedis(Path(tmp) / "redis")
            await asyncio.to_thread(redis.start)
            redis_url = redis.url
        try:
            for k, spec in enumerate(specs):
                step_dir = Path(tmp) / f"step-{k}"
                data_dir = step_dir / "data"
                data_dir.mkdir(parents=True)
                n_devices = spec.profile.max_devices
                credentials = await asyncio.to_thread(seed, data_dir, n_devices + args.nodes, args.database_url,
                                                      args.report_readers if args.reports_per_min else 0,
                                                      args.consults)
                tokens, warm_tokens = credentials.device_tokens[:n_devices], credentials.device_tokens[n_devices:]
                nodes = await asyncio.to_thread(start_nodes, args.nodes, data_dir, redis_url, step_dir, 30.0,
                                                args.database_url, args.node_cpu)
                try:
                    warm = await asyncio.gather(*(warm_up(node.url, token, f"warm-up-{k}-{node.name}")
                                                  for node, token in zip(nodes, warm_tokens)))
                    session = await login(nodes[0].url, credentials.reader_username, credentials.reader_password)
                    others = [ProcessSeries(redis.pid, "redis", "redis")] if redis and redis.pid else []
                    target = Target(nodes, tokens, session, "redis" if redis_url else "memory", list(warm), others,
                                    records="postgresql" if args.database_url else "sqlite",
                                    clinic=credentials.clinic)
                    done(await run_step(spec, target, progress))
                finally:
                    await asyncio.to_thread(stop_nodes, nodes)
        finally:
            if redis is not None:
                redis.stop()
    return runs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    thresholds = _check_args(parser, args)
    try:
        profiles = _profiles(args)
    except (ProfileError, ValueError) as exc:
        parser.error(str(exc))
    if any(args.warmup_s < 0 or args.warmup_s >= profile.duration_s for _, profile in profiles):
        parser.error("--warmup-s must be at least 0 and shorter than the run")
    if args.reports_per_min:
        capacity = 60.0 * args.report_readers / (args.read_s + 0.5)  # ~0.5 s of clicks per report besides reading
        if capacity < args.reports_per_min:
            print(f"loadtest: note: {args.report_readers} readers reading {args.read_s:g} s each sign about "
                  f"{capacity:.0f} reports a minute, fewer than the {args.reports_per_min:g} sent: a queue builds "
                  f"up and the turnaround grows through the run (--report-readers to add readers)", file=sys.stderr)
    record = args.record or (str(DEFAULT_RECORD) if Path(str(DEFAULT_RECORD) + ".hea").exists() else SYNTHETIC)
    specs = [_spec(args, label, profile, record) for label, profile in profiles]
    progress = Progress(sys.stderr)
    try:
        runs = asyncio.run(_run_all(args, specs, progress))
    except (RunError, TargetError, OSError) as exc:
        progress.clear()
        print(f"loadtest: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        progress.clear()
        print("loadtest: interrupted", file=sys.stderr)
        return 130

    breaches: list[str] = []
    for run in runs:
        run.breaches = [b.message() for b in check(thresholds, run.summary, run.label if len(runs) > 1 else "")]
        breaches += run.breaches
        if run.error_kinds:
            print(f"\nerrors in {run.label}:")
            print("\n".join(error_lines(run)))
    sustained = max((int(r.summary["devices_max"] or 0) for r in runs if r.sustained), default=0)
    print(f"\nserver ready after start: {_ready(runs)}")
    print(f"devices sustained (p99 device→reader ≤ {args.p99_ms:g} ms, nothing lost or missed, no errors): "
          f"{sustained}")
    if args.fail_under and sustained < args.fail_under:
        breaches.append(f"fewer devices sustained than --fail-under: {sustained} < {args.fail_under}")
    if args.json:
        write_json(args.json, document(runs, argv, [str(t) for t in thresholds], breaches, sustained))
        print(f"results: {args.json}")
    if args.html:
        from loadtest.htmlreport import write_html

        write_html(args.html, runs, ["loadtest", *argv], [str(t) for t in thresholds], breaches)
        print(f"report: {args.html}")
    for message in breaches:
        print(f"loadtest: {message}", file=sys.stderr)
    return 1 if breaches else 0


def _ready(runs: list[RunResult]) -> str:
    values = [r.summary.get("server_ready_s") for r in runs]
    known = [float(v) for v in values if v is not None]
    return f"{max(known):.2f} s (slowest step)" if known else "– (servers not started by loadtest)"


__all__ = ["main", "build_parser"]
