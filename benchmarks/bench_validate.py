"""`cxj validate` throughput, against bare JSON Schema validation of the same documents.

The baseline is jsonschema alone over the CRD's schema; the ratio shows what the CEL
twins, defaulting and fixable messages cost on top.
"""

from __future__ import annotations

import time
from pathlib import Path

import jsonschema

from cxj_journey import schema
from cxj_journey.documents import read_documents
from cxj_journey.validate import validate_document

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "crds" / "examples").glob("*.yaml"))


def _rate(run: object, documents: list[object], seconds: float = 2.0) -> float:
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for document in documents:
            run(document)  # type: ignore[operator]
        count += len(documents)
    return count / (time.perf_counter() - start)


def main() -> None:
    documents = [d.body for path in EXAMPLES for d in read_documents(str(path))]
    validator = jsonschema.Draft202012Validator(schema.json_schema("CxJourney"))
    baseline = _rate(lambda d: list(validator.iter_errors(d)), documents)
    ours = _rate(validate_document, documents)
    print(f"jsonschema alone:  {baseline:10.0f} documents/s")
    print(f"cxj validate:      {ours:10.0f} documents/s")
    print(f"ratio (cxj / jsonschema): {ours / baseline:.2f}")


if __name__ == "__main__":
    main()
