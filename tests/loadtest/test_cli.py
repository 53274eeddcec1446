"""The command line: bad arguments are refused before anything starts; --url runs against a live server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.cli import main
from tests.conftest import ServerProcess, World, cli
from tests.loadtest.conftest import run_loadtest


@pytest.mark.parametrize("args, message", [
    (["--fail-if", "reader_p99_ms>>100"], "bad threshold"),
    (["--fail-if", "p99>100"], "unknown metric 'p99'"),
    (["--nodes", "2"], "needs a bus"),
    (["--steps", "10,20", "--ramp", "0:0,10:10"], "not both"),
    (["--ramp", "0:0,10"], "bad ramp point"),
    (["--url", "http://127.0.0.1:9"], "needs --tokens-file"),
    (["--url", "http://127.0.0.1:9", "--nodes", "2"], "--nodes, --redis, --database-url and --node-cpu are for"),
    (["--node-cpu", "0"], "--node-cpu must be between 0.05"),
    (["--server-pid", "1"], "--server-pid is for --url"),
    (["--workers", "0"], "at least 1"),
    (["--duration-s", "2"], "--warmup-s must be"),
    (["--url", "http://127.0.0.1:9", "--tokens-file", "t", "--reader-password-file", "p", "--consults", "2"],
     "--reports-per-min and --consults need servers loadtest starts"),
    (["--reports-per-min", "-1"], "at least 0"),
    (["--consults", "2", "--consult-hold-s", "1"], "--consult-hold-s at least 2"),
])
def test_bad_arguments_exit_2_with_a_reason(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def s_frames(run: dict[str, object]) -> int:
    summary = run["summary"]
    assert isinstance(summary, dict)
    return int(summary["frames_acked"])


def test_against_a_running_server_with_tokens_from_the_admin_command(world: World, server: ServerProcess,
                                                                      tmp_path: Path) -> None:
    """The README's --url recipe: tokens from `teleconsult admin device-token`, a county reader's password."""
    tokens = tmp_path / "tokens.jsonl"
    lines = [json.dumps(cli(world.data_dir, "device-token", "--org", str(world.village_a), "--name", f"load {k}"))
             for k in range(2)]
    lines.append("tcd_not-a-token")  # the third device is refused (4001), once, and counted
    tokens.write_text("# made by teleconsult admin device-token\n" + "\n".join(lines) + "\n")
    password = tmp_path / "password"
    password.write_text(world.password + "\n")
    assert server.proc is not None
    result = run_loadtest(tmp_path / "out", "--url", server.url, "--tokens-file", str(tokens), "--reader-user",
                          "reader_a", "--reader-password-file", str(password), "--server-pid", str(server.proc.pid),
                          "--devices", "3", "--duration-s", "3", "--record", "synthetic")
    assert result.returncode == 0, result.stderr + result.stdout  # no --fail-if: errors alone do not fail
    (run,) = result.doc["runs"]
    assert run["config"]["nodes"] == [server.url] and run["config"]["bus"] == "existing"
    assert run["config"]["warmup_s"] == 2.0  # the default: the connection storm is left out of the latencies
    assert run["latency_histograms"]["ack"]["count"] < s_frames(run)
    s = run["summary"]
    assert run["errors_by_kind"] == {"device error 4001": 1} and s["errors"] == 1 and run["sustained"] is False
    refused = run["devices"][2]
    assert refused["errors"] == ["device error 4001"] and refused["frames_sent"] == 0
    assert s["lost_samples"] == 0 and s["reader_frames_missed"] == 0 and s["recordings"] == 3
    assert s["samples_stored"] == s["samples_sent"] > 0
    assert s["server_ready_s"] is None  # not started by loadtest
    (series,) = run["resources"][:1]
    assert series["role"] == "server" and series["pid"] == server.proc.pid and series["points"]
    assert "servers not started by loadtest" in result.stdout
    assert "1 × device error 4001" in result.stdout
