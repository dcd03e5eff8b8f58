"""Reading multi-document YAML or JSON files of CxJourney resources."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class UnreadableInput(Exception):
    """A file that cannot be read or parsed at all."""


@dataclass(frozen=True)
class Document:
    """One resource from a file, with where it came from."""

    source: str
    index: int  # 1-based position in the file, after expanding List kinds
    body: Any

    @property
    def label(self) -> str:
        """Says which document this is, for messages: file, position, kind and name."""
        body = self.body if isinstance(self.body, dict) else {}
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        name = metadata.get("name", "<unnamed>") if metadata else "<unnamed>"
        kind = body.get("kind", "<no kind>")
        return f"{self.source} document {self.index} ({kind} {name})"


def read_documents(source: str) -> list[Document]:
    """Returns the non-empty documents of a YAML or JSON file ("-" reads standard input).

    A document of kind List is expanded into its items, as kubectl does.

    Raises:
        UnreadableInput: when the file is missing, unreadable or not valid YAML/JSON.
    """
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableInput(f"{source}: cannot read: {error}") from error
    try:
        bodies = [body for body in yaml.safe_load_all(text) if body is not None]
    except yaml.YAMLError as error:
        raise UnreadableInput(f"{source}: not valid YAML or JSON: {error}") from error
    label = "<stdin>" if source == "-" else source
    return [Document(label, index, body) for index, body in enumerate(_expand(bodies), start=1)]


def _expand(bodies: list[Any]) -> Iterator[Any]:
    for body in bodies:
        if (
            isinstance(body, dict)
            and body.get("kind") == "List"
            and isinstance(body.get("items"), list)
        ):
            yield from body["items"]
        else:
            yield body
