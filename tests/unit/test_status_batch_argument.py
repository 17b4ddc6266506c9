"""`make status BATCH=...`: a reference that names no valid batch is refused before anything runs."""
from __future__ import annotations

import pytest

from chalicelib.keys import BatchRef
from scripts.status import main, parse_batch

ID_RULE = "letters, digits, '.' and '-', starting with a letter or digit, at most 100 characters"


@pytest.mark.parametrize("batch, message", [
    pytest.param("pz/", "BATCH=pz/ names no batch id after the folder pz/: put the batch id after the "
                        "last '/', e.g. BATCH=pz/20230828", id="trailing-slash"),
    pytest.param("partner-a/in/", "BATCH=partner-a/in/ names no batch id after the folder partner-a/in/: "
                                  "put the batch id after the last '/', e.g. BATCH=partner-a/in/20230828",
                 id="trailing-slash-deeper"),
    pytest.param("/", "BATCH=/ names no batch id: e.g. BATCH=20230828, or BATCH=partner-a/20230828 for "
                      "files under partner-a/", id="only-a-slash"),
    pytest.param("pz/2023 08", f"BATCH=pz/2023 08: '2023 08' is not a batch id ({ID_RULE}), e.g. "
                               f"BATCH=pz/2023-08: uploads named with 2023 08 are listed with that "
                               f"batch", id="space-in-the-id"),
    pytest.param("-20230828", f"BATCH=-20230828: '-20230828' is not a batch id ({ID_RULE}), e.g. "
                              f"BATCH=20230828: uploads named with -20230828 are listed with that "
                              f"batch", id="id-starting-with-a-dash"),
    pytest.param("customers_20230828.csv", f"BATCH=customers_20230828.csv: 'customers_20230828.csv' is "
                                           f"not a batch id ({ID_RULE}), e.g. BATCH=20230828",
                 id="a-file-name"),
    pytest.param("a//b/20230828", "BATCH=a//b/20230828: the folder a//b has an empty part ('//'): give "
                                  "the key's prefix, e.g. BATCH=a/b/20230828", id="double-slash"),
])
def test_a_reference_without_a_valid_batch_id_exits_2_naming_the_problem_and_an_example(batch, message,
                                                                                       capsys):
    assert main([batch]) == 2

    assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize("batch, expected", [
    ("20230828", BatchRef("", "20230828")),
    ("pz/20230828", BatchRef("pz", "20230828")),
    (" partner-a/in/v1.2-rc ", BatchRef("partner-a/in", "v1.2-rc")),
    ("/20230828", BatchRef("", "20230828")),  # a leading '/': the top of the bucket
])
def test_a_valid_reference_names_its_folder_and_batch(batch, expected):
    assert parse_batch(batch) == expected
