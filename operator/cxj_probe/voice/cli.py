"""The `cxj mos` and `cxj reflector` subcommands: argument parsing and wiring only."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
from collections.abc import Callable

from cxj_probe.voice.codecs import CODECS
from cxj_probe.voice.emodel import (
    E_MODEL,
    SIMPLIFIED_MODEL,
    codec_named,
    rate_codec,
    satisfaction,
    simplified_rating,
)
from cxj_probe.voice.impairment import Impairment


def _number(minimum: float, maximum: float | None = None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum:g}" if maximum is None else f"in [{minimum:g}, {maximum:g}]"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        return value

    return parse


def _address(text: str) -> tuple[str, int]:
    host, separator, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not separator or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (port 0..65535, 0 picks a free one), got {text!r}"
        )
    return host, int(port_text)


def _fail(command: str, message: str) -> int:
    print(f"cxj {command}: error: {message}", file=sys.stderr)
    return 2


def add_mos_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj mos`: R and MOS by the E-model, or by the labelled simplified model."""
    parser = subparsers.add_parser(
        "mos",
        help="compute R and MOS (ITU-T G.107 E-model, or the simplified softphone model)",
        description="Compute the transmission rating R and MOS. The default model is the "
        "ITU-T G.107 E-model: give the mouth-to-ear delay Ta (network + jitter buffer + "
        "codec), loss and burst ratio. --model simplified uses the softphone formula from "
        "round-trip time, jitter and loss instead (labelled as such; it is not G.107).",
    )
    parser.add_argument("--model", choices=(E_MODEL, SIMPLIFIED_MODEL), default=E_MODEL)
    parser.add_argument(
        "--delay-ms", type=_number(0), metavar="TA", help="mouth-to-ear delay Ta (e-model)"
    )
    parser.add_argument(
        "--echo-delay-ms", type=_number(0), metavar="T", help="talker-echo path delay T (= Ta)"
    )
    parser.add_argument(
        "--loss-pct", type=_number(0, 100), default=0.0, help="packet loss in percent (0)"
    )
    parser.add_argument(
        "--burst-ratio", type=_number(1), help="BurstR: 1 random loss, above 1 bursty (1)"
    )
    parser.add_argument("--codec", choices=tuple(CODECS), help="codec for Ie and Bpl (g711)")
    parser.add_argument("--rtt-ms", type=_number(0), help="round-trip time (simplified)")
    parser.add_argument("--jitter-ms", type=_number(0), help="jitter (simplified, default 0)")
    parser.add_argument("--json", action="store_true", help='print {"model", "r", "mos"}')
    parser.set_defaults(run=_mos)


def _mos(args: argparse.Namespace) -> int:
    if args.model == E_MODEL:
        misplaced = [
            flag for flag, value in (("--rtt-ms", args.rtt_ms), ("--jitter-ms", args.jitter_ms))
            if value is not None
        ]  # fmt: skip
        if misplaced:
            return _fail("mos", f"{misplaced[0]} applies only to --model simplified")
        if args.delay_ms is None:
            return _fail("mos", "--delay-ms is required: the mouth-to-ear delay Ta in ms")
        codec = codec_named(args.codec or "g711")
        burst = 1.0 if args.burst_ratio is None else args.burst_ratio
        echo = args.delay_ms if args.echo_delay_ms is None else args.echo_delay_ms
        rating = rate_codec(
            codec,
            mouth_to_ear_delay_ms=args.delay_ms,
            loss_pct=args.loss_pct,
            burst_ratio=burst,
            echo_delay_ms=args.echo_delay_ms,
        )
        r, mos = rating.r, rating.mos
        lines = [
            f"E-model (ITU-T G.107), codec {codec.name}: {codec.description}",
            f"  Ta {args.delay_ms:g} ms, T {echo:g} ms, "
            f"Ppl {args.loss_pct:g} %, BurstR {burst:g}, Ie {codec.ie:g}, Bpl {codec.bpl:g}",
            f"  Ro {rating.ro:.2f}  Is {rating.is_:.2f}  Id {rating.id:.2f} (Idte "
            f"{rating.idte:.2f}, Idle {rating.idle:.2f}, Idd {rating.idd:.2f})  Ie,eff "
            f"{rating.ie_eff:.2f}  A {rating.a:g}",
        ]
    else:
        misplaced = [
            flag
            for flag, value in (
                ("--delay-ms", args.delay_ms),
                ("--echo-delay-ms", args.echo_delay_ms),
                ("--burst-ratio", args.burst_ratio),
                ("--codec", args.codec),
            )
            if value is not None
        ]
        if misplaced:
            return _fail("mos", f"{misplaced[0]} applies only to --model e-model")
        if args.rtt_ms is None:
            return _fail("mos", "--rtt-ms is required with --model simplified")
        result = simplified_rating(args.rtt_ms, args.jitter_ms or 0.0, args.loss_pct)
        r, mos = result.r, result.mos
        lines = [
            "Simplified softphone model (not ITU-T G.107): effective latency "
            f"{result.effective_latency_ms:g} ms = RTT + 2 x jitter + 10 ms, "
            f"loss {args.loss_pct:g} %",
        ]
    if args.json:
        print(json.dumps({"model": args.model, "r": round(r, 2), "mos": round(mos, 2)}))
    else:
        print("\n".join([*lines, f"  R {r:.2f}  MOS {mos:.2f}  ({satisfaction(r)})"]))
    return 0


def add_reflector_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj reflector`: a STAMP session-reflector that can impair on purpose."""
    parser = subparsers.add_parser(
        "reflector",
        help="run a STAMP (RFC 8762) session-reflector, optionally impairing replies",
        description="Reflect STAMP test packets (stateful, unauthenticated) until SIGTERM or "
        "SIGINT. Impairment applies to reflected packets: each is held delay +/- 1.5 x "
        "jitter (uniform) and dropped with the given loss, in bursts of mean --burst-length "
        "when given. --control serves GET/PUT /impairment as JSON to change it while running.",
    )
    parser.add_argument("--listen", type=_address, default=("127.0.0.1", 862), metavar="HOST:PORT")
    parser.add_argument("--delay-ms", type=_number(0), default=0.0)
    parser.add_argument("--jitter-ms", type=_number(0), default=0.0)
    parser.add_argument("--loss-pct", type=_number(0, 100), default=0.0)
    parser.add_argument("--burst-length", type=_number(1), help="mean drops per burst")
    parser.add_argument("--seed", type=int, help="seed the impairment's random draws")
    parser.add_argument("--control", type=_address, metavar="HOST:PORT", help="HTTP control")
    parser.set_defaults(run=_reflector)


_FLAGS = {
    "delay_ms": "--delay-ms",
    "jitter_ms": "--jitter-ms",
    "loss_pct": "--loss-pct",
    "burst_length": "--burst-length",
}


def _reflector(args: argparse.Namespace) -> int:
    try:
        impairment = Impairment(
            args.delay_ms, args.jitter_ms, args.loss_pct, args.burst_length, args.seed
        )
    except ValueError as error:
        message = str(error)
        for field, flag in _FLAGS.items():
            message = message.replace(field, flag)
        return _fail("reflector", message)
    try:
        return asyncio.run(_serve(args.listen, args.control, impairment))
    except OSError as error:
        print(f"cxj reflector: error: cannot listen: {error}", file=sys.stderr)
        return 1


async def _serve(
    listen: tuple[str, int], control: tuple[str, int] | None, impairment: Impairment
) -> int:
    from cxj_probe.voice.control import ControlServer
    from cxj_probe.voice.reflector import Reflector

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    reflector = Reflector(listen[0], listen[1], impairment)
    await reflector.start()
    server = None
    try:
        where = "no control endpoint"
        if control is not None:
            server = ControlServer(reflector, control[0], control[1])
            await server.start()
            host, port = server.address
            where = f"control http://{host}:{port}/impairment"
        host, port = reflector.address
        print(
            f"cxj reflector: STAMP stateful session-reflector on udp {host}:{port}; "
            f"impairment {json.dumps(impairment.to_json())}; {where}",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        if server is not None:
            await server.stop()
        await reflector.stop()
    return 0
