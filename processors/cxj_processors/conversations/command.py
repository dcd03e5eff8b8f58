"""Registers `cxj conversations`; the analysis (and numba) load only when it runs."""

from __future__ import annotations

import argparse


def _analyze(args: argparse.Namespace) -> int:
    from cxj_processors.conversations.cli import run_analyze

    return run_analyze(args)


def add_conversations_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj conversations analyze`."""
    parser = sub.add_parser(
        "conversations",
        help="analyse conversations: silence, talk-over, frustration, escalation, compliance",
        description="Conversation signals from speaker turns (RTTM, JSON lines).",
    )
    commands = parser.add_subparsers(dest="conversations_command", required=True, metavar="COMMAND")
    analyze = commands.add_parser(
        "analyze",
        help="analyse RTTM and JSON-lines files",
        description="Analyse every conversation in the files (.rttm with an optional --transcripts "
        "JSON; .jsonl in the format of docs/conversations.md; '-' reads JSON lines from stdin). "
        "A conversation with bad input is reported with its reason and the rest still go "
        "through. Exit 0 when all were analysed, 1 when some were rejected, 2 when input or "
        "the policy cannot be read.",
    )
    analyze.add_argument("files", nargs="+", metavar="FILE")
    analyze.add_argument("--policy", metavar="FILE", help="a CxConversationPolicy YAML file")
    analyze.add_argument(
        "--transcripts",
        metavar="FILE",
        help="transcript JSON for the RTTM files (words, roles, context)",
    )
    analyze.add_argument(
        "--format",
        choices=("table", "json", "otlp"),
        default="table",
        help="output (default table)",
    )
    analyze.add_argument(
        "--otlp-endpoint",
        metavar="HOST:PORT",
        help="with --format otlp: send to this OTLP/gRPC endpoint instead of printing OTLP JSON",
    )
    analyze.set_defaults(run=_analyze)
