"""`make local-run` runs the function with the development venv on its path: it says when the
function imports a module its deployment package does not hold."""
from __future__ import annotations

import importlib
import sys

from scripts.sandbox.invokers import BeyondThePackage
from tests.conftest import PROJECT_DIR


def test_a_module_of_the_development_venv_is_named_and_one_of_the_package_is_not(caplog):
    for name in ("xmltodict", "jmespath"):  # moto's (dev only), and boto3's (in the package)
        sys.modules.pop(name, None)
    beyond = BeyondThePackage(PROJECT_DIR)

    importlib.import_module("xmltodict")
    importlib.import_module("jmespath")
    beyond.say()

    [said] = [r.getMessage() for r in caplog.records]
    assert said.startswith("the function imported xmltodict, which its deployment package does not hold")
    assert "fails in Lambda with Runtime.ImportModuleError" in said
    assert beyond.newly_imported() == []  # said once
