"""`cxj mos` and `cxj reflector` argument handling: outputs, models, and errors naming the flag."""

from __future__ import annotations

import argparse
import json

import pytest

from cxj_probe.voice.cli import add_mos_parser, add_reflector_parser
from cxj_probe.voice.emodel import CODECS, rate_codec, simplified_rating


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cxj")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_mos_parser(subparsers)
    add_reflector_parser(subparsers)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--delay-ms", "0"], {"model": "e-model", "r": 93.21, "mos": 4.41}),
        (["--delay-ms", "150", "--loss-pct", "1"], {"model": "e-model", "r": 72.31, "mos": 3.7}),
        (
            ["--delay-ms", "80", "--loss-pct", "5", "--burst-ratio", "2.5", "--codec", "g729a"],
            {"model": "e-model", "r": 60.61, "mos": 3.13},
        ),
        (
            ["--model", "simplified", "--rtt-ms", "100", "--jitter-ms", "10", "--loss-pct", "1"],
            {"model": "simplified", "r": 87.45, "mos": 4.27},
        ),
    ],
    ids=["defaults", "g711-delay-and-loss", "g729a-bursty", "simplified"],
)
def test_mos_json_prints_exactly_model_r_mos(
    argv: list[str], expected: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["mos", *argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == expected


def test_mos_text_shows_the_terms_and_the_band(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["mos", "--delay-ms", "150", "--loss-pct", "1", "--codec", "g711-plc"]) == 0
    out = capsys.readouterr().out
    rating = rate_codec(CODECS["g711-plc"], mouth_to_ear_delay_ms=150, loss_pct=1)
    assert "E-model (ITU-T G.107), codec g711-plc" in out
    assert f"Ie,eff {rating.ie_eff:.2f}" in out
    assert f"R {rating.r:.2f}  MOS {rating.mos:.2f}" in out
    assert "(satisfied)" in out


def test_echo_delay_is_its_own_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["mos", "--delay-ms", "150", "--echo-delay-ms", "0", "--json"]) == 0
    no_echo = json.loads(capsys.readouterr().out)["r"]
    assert run(["mos", "--delay-ms", "150", "--json"]) == 0
    with_echo = json.loads(capsys.readouterr().out)["r"]
    assert no_echo > with_echo


def test_simplified_model_is_labelled_as_not_g107(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["mos", "--model", "simplified", "--rtt-ms", "40"]) == 0
    out = capsys.readouterr().out
    assert "Simplified softphone model (not ITU-T G.107)" in out
    assert f"R {simplified_rating(40, 0, 0).r:.2f}" in out


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--loss-pct", "1"], "--delay-ms is required"),
        (["--delay-ms", "100", "--rtt-ms", "20"], "--rtt-ms applies only to --model simplified"),
        (["--model", "simplified"], "--rtt-ms is required"),
        (["--model", "simplified", "--rtt-ms", "9", "--codec", "g711"], "--codec applies only"),
        (["--model", "simplified", "--rtt-ms", "9", "--delay-ms", "9"], "--delay-ms applies only"),
    ],
    ids=["no-delay", "rtt-with-e-model", "no-rtt", "codec-with-simplified", "delay-simplified"],
)
def test_mos_misused_flags_exit_2_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["mos", *argv]) == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--delay-ms", "-5"], "argument --delay-ms: must be >= 0, got -5"),
        (["--delay-ms", "fast"], "argument --delay-ms: not a number"),
        (["--delay-ms", "10", "--loss-pct", "101"], "argument --loss-pct: must be in [0, 100]"),
        (["--delay-ms", "10", "--burst-ratio", "0.5"], "argument --burst-ratio: must be >= 1"),
        (["--delay-ms", "10", "--codec", "opus"], "argument --codec: invalid choice"),
        (["--delay-ms", "inf"], "argument --delay-ms: must be >= 0, got inf"),
    ],
    ids=["negative", "not-a-number", "loss-over-100", "burst-below-1", "unknown-codec", "inf"],
)
def test_mos_bad_values_exit_2_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["mos", *argv])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jitter-ms", "20"], "--delay-ms must be at least 30 for --jitter-ms 20"),
        (["--loss-pct", "100"], "--loss-pct: must be below 100"),
        (["--loss-pct", "80", "--burst-length", "2"], "--burst-length: with --loss-pct 80"),
    ],
    ids=["jitter-without-delay", "all-lost", "impossible-burst"],
)
def test_reflector_impossible_impairment_exits_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["reflector", "--listen", "127.0.0.1:0", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["--listen", "127.0.0.1"], ["--listen", ":862"], ["--control", "127.0.0.1:99999"]],
    ids=["no-port", "no-host", "port-out-of-range"],
)
def test_reflector_bad_addresses_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["reflector", *argv])
    assert exit_info.value.code == 2
    assert "expected HOST:PORT" in capsys.readouterr().err
