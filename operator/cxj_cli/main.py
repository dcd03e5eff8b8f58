"""The cxj command: parses arguments and hands each subcommand to the package that owns it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cxj_cli.kernel_cache import seed_kernel_cache
from cxj_journey import __version__


def _validate(args: argparse.Namespace) -> int:
    from cxj_journey.documents import UnreadableInput, read_documents
    from cxj_journey.validate import validate_document

    unreadable = False
    invalid = 0
    checked = 0
    for source in args.files:
        try:
            documents = read_documents(source)
        except UnreadableInput as error:
            print(f"error: {error}", file=sys.stderr)
            unreadable = True
            continue
        if not documents:
            print(f"error: {source}: no documents found", file=sys.stderr)
            invalid += 1
        for document in documents:
            checked += 1
            problems = validate_document(document.body)
            if problems:
                invalid += 1
                for problem in problems:
                    print(f"{document.label}: {problem}", file=sys.stderr)
            elif not args.quiet:
                print(f"{document.label}: valid")
    if unreadable:
        return 2
    if invalid:
        print(f"{invalid} of {checked} document(s) invalid", file=sys.stderr)
        return 1
    return 0


def _version(_: argparse.Namespace) -> int:
    print(f"cxj {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cxj",
        description="cxjourney: experience-level monitoring for contact-center journeys.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="check CxJourney files against the CRD schema and its rules",
        description="Validate CxJourney YAML/JSON files (multi-document, '-' for stdin) against "
        "the CRD in crds/. Exit 0 when all are valid, 1 when any is invalid, 2 when a file "
        "cannot be read.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(run=_validate)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(run=_version)

    from cxj_export.cli import add_export_parser
    from cxj_operator.cli import add_operator_parser
    from cxj_probe.cli import add_probe_parser
    from cxj_probe.voice.cli import add_mos_parser, add_reflector_parser
    from cxj_processors.cli import add_processor_parser
    from cxj_processors.conversations.command import add_conversations_parser
    from cxj_standalone.cli import add_standalone_parsers

    add_probe_parser(sub)
    add_processor_parser(sub)
    add_mos_parser(sub)
    add_reflector_parser(sub)
    add_standalone_parsers(sub)
    add_conversations_parser(sub)
    add_operator_parser(sub)
    add_export_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the cxj command line and returns its exit code."""
    args = build_parser().parse_args(argv)
    seed_kernel_cache()
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
