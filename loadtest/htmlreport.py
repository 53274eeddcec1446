"""A self-contained HTML report: summary tables and inline SVG plots, nothing fetched.

    write_html(Path("report.html"), runs, command=argv, breaches=[...])

One page, no scripts, no external stylesheet, font or image: it can be mailed or archived
as is and opens offline.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

from loadtest import plots
from loadtest.results import METRICS, RunResult

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; padding: 0 12px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ccc; }
h3 { margin: 22px 0 6px; font-size: 15px; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: 8px 12px; border-radius: 4px; font-weight: 600; }
.pass { background: #e6f4ea; color: #1e6b34; } .fail { background: #fde8e8; color: #a11; }
figure { margin: 10px 0 18px; } figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 12px; }
.muted { color: #666; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else _e(value)


def _figure(svg: str, caption: str, name: str) -> str:
    return f'<figure data-plot="{_e(name)}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _summary_table(run: RunResult) -> str:
    rows = "".join(f"<tr><td><code>{_e(k)}</code></td><td class=num>{_num(run.summary.get(k))}</td>"
                   f"<td class=muted>{_e(meaning)}</td></tr>" for k, meaning in METRICS.items())
    return f"<table class=summary><tr><th>metric</th><th>value</th><th>meaning</th></tr>{rows}</table>"


def _config_table(run: RunResult) -> str:
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in run.config.items())
    return f"<table class=config>{rows}</table>"


def _errors(run: RunResult) -> str:
    if not run.error_kinds:
        return "<p>No errors.</p>"
    rows = "".join(f"<tr><td class=num>{n}</td><td>{_e(kind)}</td></tr>" for kind, n in run.error_kinds.most_common())
    return f"<table class=errors><tr><th>count</th><th>error</th></tr>{rows}</table>"


def _overview(runs: list[RunResult]) -> str:
    head = ("<tr><th>run</th><th>devices</th><th>frames/s</th><th>ack p50/p99 ms</th><th>reader p50/p99 ms</th>"
            "<th>lost</th><th>missed</th><th>errors</th><th>server CPU %</th><th>sustained</th></tr>")
    rows = []
    for r in runs:
        s = r.summary
        rows.append(
            f"<tr><td>{_e(r.label)}</td><td class=num>{_num(s['devices_max'])}</td>"
            f"<td class=num>{_num(s['frames_per_s'])}</td>"
            f"<td class=num>{_num(s['ack_p50_ms'])} / {_num(s['ack_p99_ms'])}</td>"
            f"<td class=num>{_num(s['reader_p50_ms'])} / {_num(s['reader_p99_ms'])}</td>"
            f"<td class=num>{_num(s['lost_samples'])}</td><td class=num>{_num(s['reader_frames_missed'])}</td>"
            f"<td class=num>{_num(s['errors'])}</td><td class=num>{_num(s['server_cpu_pct'])}</td>"
            f"<td>{'yes' if r.sustained else 'no'}</td></tr>")
    return f"<table class=overview>{head}{''.join(rows)}</table>"


def _run_section(run: RunResult, index: int) -> str:
    parts = [f"<section class=run id=run-{index}><h2>{_e(run.label)}</h2>"]
    if run.breaches:
        items = "".join(f"<li>{_e(b)}</li>" for b in run.breaches)
        parts.append(f"<div class='verdict fail'>Thresholds breached:<ul>{items}</ul></div>")
    parts.append(_figure(plots.to_svg(plots.latency_over_time(run)),
                         "p50 (dotted) and p99 (solid) of each 1 s window; grey: devices streaming.", "latency"))
    parts.append(_figure(plots.to_svg(plots.throughput_over_time(run)),
                         "Frames sent by the devices, acknowledged by the server, delivered to readers.",
                         "throughput"))
    parts.append(_figure(plots.to_svg(plots.percentile_curves(run)),
                         "All latencies of the run after the warm-up, merged across workers (1 % buckets).",
                         "percentiles"))
    parts.append(_figure(plots.to_svg(plots.device_loss(run)),
                         "Stored = what the server's WFDB export returns; lost = sent but not stored identically.",
                         "loss"))
    parts.append(_figure(plots.to_svg(plots.resources_over_time(run)),
                         "Sampled from /proc once a second: servers solid, load-generator workers dashed, "
                         "Redis dotted. After the profile the servers build the WFDB exports of the loss check; "
                         "the run's CPU figures cover the profile only.", "resources"))
    if run.clinic is not None:
        parts.append(_figure(plots.to_svg(plots.clinic_over_time(run)),
                             "Report and consult traffic beside the streams: a village doctor's ECGs read and "
                             "signed by county readers, the report pushed back to the doctor's screen; "
                             "signalling-only consults set up one after another.", "clinic"))
    parts.append("<h3>All figures</h3>" + _summary_table(run))
    parts.append("<h3>Errors and close codes</h3>" + _errors(run))
    parts.append("<h3>Configuration</h3>" + _config_table(run))
    parts.append("</section>")
    return "".join(parts)


def render_html(runs: list[RunResult], command: list[str], thresholds: list[str], breaches: list[str]) -> str:
    with plots.style():
        body = []
        verdict = ("<div class='verdict fail'>FAILED: " + "; ".join(_e(b) for b in breaches) + "</div>"
                   if breaches else "<div class='verdict pass'>Passed"
                   + (f" ({len(thresholds)} threshold{'s' if len(thresholds) != 1 else ''})" if thresholds else "")
                   + "</div>")
        body.append(verdict)
        if thresholds:
            body.append("<p>Thresholds: " + ", ".join(f"<code>{_e(t)}</code>" for t in thresholds) + "</p>")
        if len(runs) > 1:
            body.append("<h2>Overview</h2>" + _overview(runs))
            body.append(_figure(plots.to_svg(plots.steps_overview(runs)),
                                "p99 latencies and server CPU of each run.", "steps"))
        elif runs:
            body.append(_overview(runs))
        body += [_run_section(run, k) for k, run in enumerate(runs)]
    when = time.strftime("%Y-%m-%d %H:%M")
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>teleconsult load test {when}</title><style>{_CSS}</style></head><body>"
            f"<h1>teleconsult load test</h1><p class=muted>{_e(when)} · <code>{_e(' '.join(command))}</code></p>"
            + "".join(body) + "</body></html>\n")


def write_html(path: Path, runs: list[RunResult], command: list[str], thresholds: list[str],
               breaches: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(runs, command, thresholds, breaches), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """``python -m loadtest.htmlreport results.json report.html``: the report again, from a JSON file."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m loadtest.htmlreport RESULTS.json REPORT.html", file=sys.stderr)
        return 2
    doc = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    runs = [RunResult.from_json(r) for r in doc["runs"]]
    write_html(Path(args[1]), runs, list(doc["command"]), list(doc["thresholds"]), list(doc["breaches"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["render_html", "write_html", "main"]
