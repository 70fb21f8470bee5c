"""How the pages write values for people: a job's parameters and file sizes."""

from __future__ import annotations

from synapse.web.present import parameters, size


def test_parameters_read_as_words_not_python_and_hide_server_paths() -> None:
    shown = dict(
        parameters(
            {
                "project_id": "proj-a",
                "file_path": "/srv/synapse/uploads/3f.upload",
                "skip_invalid": False,
                "options": {"title": None, "formats": ["pdf", "xlsx"], "revision": "B"},
                "mapping": {"Tag No.": "tag", "Notes": None},
                "rows": 20000,
            }
        )
    )
    assert shown == {
        "project id": "proj-a",
        "skip invalid": "no",
        "options": "formats: pdf, xlsx; revision: B",
        "mapping": "Tag No. → tag; Notes → ignored",
        "rows": "20,000",
    }
    assert not any("{" in text or "None" in text for text in shown.values())
    assert parameters(None) == []


def test_sizes_read_in_the_unit_a_person_expects() -> None:
    assert size(812) == "812 bytes"
    assert size(14_500) == "14.2 KB"
    assert size(3_500_000) == "3.3 MB"
    assert size(5 * 2**30) == "5.0 GB"
    assert size("not a number") == ""
