"""A handler that cannot be loaded is reported in the type and words of Lambda's Python runtime."""
from __future__ import annotations

import sys

import pytest

from scripts.sandbox.worker import InitError, load_handler


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in ("lacks_a_module", "broken_syntax", "no_handler", "raises_at_import", "works"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("source, handler, error_type, message", [
    ("import not_in_the_package\n", "lacks_a_module.app", "Runtime.ImportModuleError",
     "Unable to import module 'lacks_a_module': No module named 'not_in_the_package'"),
    ("def app(:\n", "broken_syntax.app", "Runtime.UserCodeSyntaxError",
     "Syntax error in module 'broken_syntax': "),
    ("other = 1\n", "no_handler.app", "Runtime.HandlerNotFound",
     "Handler 'app' missing on module 'no_handler'"),
])
def test_a_handler_that_cannot_be_loaded_fails_as_lambda_says(project, source, handler, error_type, message):
    (project / f"{handler.split('.')[0]}.py").write_text(source)

    with pytest.raises(InitError) as failure:
        load_handler(handler, str(project))

    assert failure.value.error_type == error_type
    assert str(failure.value).startswith(message)


def test_an_exception_the_module_raises_is_reported_as_it_is(project):
    (project / "raises_at_import.py").write_text("raise KeyError('TABLE_NAME')\n")

    with pytest.raises(KeyError, match="TABLE_NAME"):
        load_handler("raises_at_import.app", str(project))


def test_a_module_that_loads_gives_its_handler(project):
    (project / "works.py").write_text("def app(event, context):\n    return 'ok'\n")

    assert load_handler("works.app", str(project))({}, None) == "ok"
