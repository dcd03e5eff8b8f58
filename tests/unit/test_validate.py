"""`cxj validate` and the journey schema: examples pass, every user mistake is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from cxj_cli.main import main
from cxj_journey import schema
from cxj_journey.documents import read_documents
from cxj_journey.rules import RULES
from cxj_journey.validate import validate_document

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "crds" / "examples").glob("*.yaml"))
CORPUS = yaml.safe_load((REPO / "tests" / "data" / "invalid_journeys.yaml").read_text())


def invalid_case(case: dict[str, Any]) -> Any:
    return jsonpatch.apply_patch(CORPUS["base"], case["patch"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_valid(path: Path) -> None:
    documents = read_documents(str(path))
    assert documents
    for document in documents:
        assert validate_document(document.body) == []


def test_corpus_base_is_valid() -> None:
    assert validate_document(CORPUS["base"]) == []


def test_corpus_has_at_least_thirty_distinct_mistakes() -> None:
    ids = [case["id"] for case in CORPUS["cases"]]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda c: c["id"])
def test_every_mistake_is_rejected_and_located(case: dict[str, Any]) -> None:
    problems = validate_document(invalid_case(case))
    assert problems, f"{case['id']} was accepted"
    assert any(problem.path.startswith(case["expect"]) for problem in problems), problems


def test_every_cel_rule_has_a_local_twin_and_back() -> None:
    in_crd = {rule.message for kind in schema.CRD_FILES for rule in schema.cel_rules(kind)}
    assert in_crd == set(RULES)


def test_unknown_field_suggests_the_nearest_known_one() -> None:
    case = next(c for c in CORPUS["cases"] if c["id"] == "misspelt-step-kind")
    messages = [str(p) for p in validate_document(invalid_case(case))]
    assert any(m == "spec.steps[0].htpp: unknown field; did you mean 'http'?" for m in messages)


def test_enum_error_lists_the_choices() -> None:
    case = next(c for c in CORPUS["cases"] if c["id"] == "lowercase-method")
    (problem,) = validate_document(invalid_case(case))
    assert problem.path == "spec.steps[0].http.method"
    assert "GET, HEAD, POST" in problem.message
    assert "'post'" in problem.message


def test_defaults_fill_what_the_apiserver_would() -> None:
    (document,) = read_documents(str(REPO / "crds" / "examples" / "minimal.yaml"))
    filled = schema.apply_defaults(document.body, schema.openapi_schema("CxJourney"))
    spec = filled["spec"]
    assert spec["interval"] == "60s"
    assert spec["slo"] == {
        "objective": "99.5",
        "period": "30d",
        "budgeting": "occurrences",
        "sliceObjective": "100",
    }
    assert spec["experience"]["weights"] == {
        "availability": 50,
        "responsiveness": 30,
        "voiceQuality": 20,
    }
    assert "timeout" not in spec["steps"][0]  # the probe picks min(10s, interval)
    assert spec["steps"][0]["http"]["method"] == "GET"
    assert spec["locations"][0]["replicas"] == 1


def test_every_schema_field_has_a_description() -> None:
    missing: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if "description" not in node and path not in {
            "metadata",
            "spec.locations[].nodeSelector.*",
            "spec.locations[].attributes.*",
        }:
            missing.append(path)
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}" if path else name)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*")

    walk(schema.openapi_schema("CxJourney"), "")
    assert missing == []


class TestCommandLine:
    def test_valid_files_exit_zero(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["validate", *map(str, EXAMPLES)]) == 0
        assert capsys.readouterr().out.count(": valid") == len(EXAMPLES)

    def test_invalid_document_exits_one_naming_document_and_path(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = invalid_case(next(c for c in CORPUS["cases"] if c["id"] == "relative-url"))
        path = tmp_path / "journeys.yaml"
        path.write_text(yaml.safe_dump_all([CORPUS["base"], bad]))
        assert main(["validate", str(path)]) == 1
        err = capsys.readouterr().err
        assert f"{path} document 2 (CxJourney parity-base): spec.steps[0].http.url:" in err
        assert "1 of 2 document(s) invalid" in err

    def test_unreadable_input_exits_two(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        broken = tmp_path / "broken.yaml"
        broken.write_text("spec: [unclosed\n")
        assert main(["validate", str(broken), str(tmp_path / "missing.yaml")]) == 2
        err = capsys.readouterr().err
        assert "not valid YAML" in err
        assert "cannot read" in err

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["version"]) == 0
        assert capsys.readouterr().out.startswith("cxj ")


def test_field_reference_page_matches_the_crd() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "crd_reference", REPO / "scripts" / "crd_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (REPO / "docs" / "reference" / "cxjourney.md").read_text()
    assert page == module.render(), "docs/reference/cxjourney.md is stale: run `make docs`"
