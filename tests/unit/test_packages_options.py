"""Package requests: defaults, and every bad input named in one 422 detail."""

from __future__ import annotations

import pytest

from synapse.errors import InvalidInput
from synapse.packages.options import package_job, parse_request


def test_defaults_are_both_formats_revision_a_on_bulk():
    request = parse_request({"package_type": "full"})
    assert request.options.formats == ("xlsx", "pdf")
    assert request.options.asset_types == ()
    assert request.options.revision == "A"
    assert request.options.title is None
    assert request.priority == "bulk"


def test_options_are_normalised():
    request = parse_request(
        {
            "package_type": "datasheets",
            "options": {
                "formats": ["pdf", "pdf"],
                "asset_types": [" Motor ", "Pump", "Motor"],
                "title": "  Issued   for  construction ",
                "revision": " C ",
            },
            "priority": "urgent",
        }
    )
    assert request.options.formats == ("pdf",)
    assert request.options.asset_types == ("Motor", "Pump")
    assert request.options.title == "Issued for construction"
    assert request.options.revision == "C"
    assert request.priority == "urgent"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"package_type": "everything"}, "package_type: Input should be 'instrument_index'"),
        ({}, "package_type: Field required"),
        ({"package_type": "full", "options": {"formats": ["docx"]}}, "options.formats.0"),
        ({"package_type": "full", "options": {"formats": []}}, "options.formats"),
        ({"package_type": "full", "options": {"colour": "red"}}, "options.colour: unknown field"),
        ({"package_type": "full", "options": {"title": "a\x00b"}}, "control characters"),
        ({"package_type": "full", "options": {"revision": "  "}}, "revision must not be empty"),
        ({"package_type": "full", "options": {"revision": "R" * 21}}, "at most 20 characters"),
        ({"package_type": "full", "priority": "now"}, "priority: Input should be"),
        ({"package_type": "full", "options": {"asset_types": [""]}}, "asset type must not be"),
    ],
)
def test_bad_requests_name_the_problem(body, words):
    with pytest.raises(InvalidInput) as caught:
        parse_request(body)
    message = str(caught.value)
    assert message.startswith("invalid package request: ")
    assert words in message


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_request(["full"])


def test_task_arguments_are_checked_again():
    job = package_job(project_key="p1", package_type="full", options=None, job_id="j")
    assert job.parts == ("index", "datasheets")
    assert job.title == "Engineering package"
    assert package_job(project_key="p", package_type="datasheets", options={}).parts == (
        "datasheets",
    )
    with pytest.raises(InvalidInput):
        package_job(project_key="p1", package_type="full", options={"formats": "xlsx"})
