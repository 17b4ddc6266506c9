"""The emulator's replacements for pieces of moto's API Gateway: it takes what `chalice deploy` sends.

ImportRestApi and PutRestApi take the Swagger 2.0 document that ``chalice
deploy`` sends (moto takes only OpenAPI 3, and requires a description).

Which moto function each one replaces, and why, is its row in ``fixes.patches()``.
"""
from __future__ import annotations

import functools
from typing import Any

# moto's internals are imported where they are used, after the version check
# (fixes.check_moto_version), so that a moto in which they moved gets the plain
# message, not an ImportError.


def _validate_api_doc(api_doc: dict) -> None:
    """What moto does with failOnWarnings; its validator reads Swagger 2.0 as well as OpenAPI 3."""
    from moto.apigateway.exceptions import InvalidOpenAPIDocumentException
    from moto.apigateway.models import OpenAPIValidationError, validate
    try:
        validate(api_doc)
    except OpenAPIValidationError as exc:
        raise InvalidOpenAPIDocumentException(exc) from exc


def import_rest_api(self, api_doc: dict[str, Any], fail_on_warnings: bool):
    """moto's ``APIGatewayBackend.import_rest_api``, with the description optional, as in API Gateway."""
    if fail_on_warnings:
        _validate_api_doc(api_doc)
    info = api_doc["info"]
    api = self.create_rest_api(name=info["title"], description=info.get("description"))
    self.put_rest_api(api.id, api_doc, fail_on_warnings=False)  # validated above
    return api


def accepting_swagger_2(put_rest_api):
    """``APIGatewayBackend.put_rest_api`` that takes a Swagger 2.0 document too, as API Gateway does."""
    @functools.wraps(put_rest_api)
    def put(self, function_id: str, api_doc: dict[str, Any], fail_on_warnings: bool, mode: str = "merge"):
        if str(api_doc.get("swagger", "")).startswith("2"):
            if fail_on_warnings:
                _validate_api_doc(api_doc)
                fail_on_warnings = False
            # What moto reads after its version check (paths, their methods'
            # response codes and x-amazon-apigateway-integration) is written
            # the same way in both versions.
            api_doc = {**{k: v for k, v in api_doc.items() if k != "swagger"}, "openapi": "3.0.1"}
        return put_rest_api(self, function_id, api_doc, fail_on_warnings=fail_on_warnings, mode=mode)
    return put
