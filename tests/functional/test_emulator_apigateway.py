"""The embedded emulator's API Gateway takes the Swagger 2.0 document `chalice deploy` sends for app.py."""
from __future__ import annotations

import copy
import json

import boto3
import botocore.session
import pytest
from chalice.awsclient import TypedAWSClient
from chalice.deploy.swagger import SwaggerGenerator
from moto import mock_aws

REGION = "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:order-pipeline-dev"


@pytest.fixture
def apigateway_fixes(monkeypatch, aws_credentials) -> None:
    """The emulator's API Gateway fixes, installed for one test; moto's own are put back after it."""
    from scripts.sandbox import emulator
    for patch in emulator.patches():
        monkeypatch.setattr(patch.owner, patch.name, getattr(patch.owner, patch.name))
    emulator.install_fixes("apigateway")


@pytest.fixture
def app():
    from app import app
    return app


def swagger_for(app) -> dict:
    """The document chalice deploy builds for the app (its deployer's generator, with the
    function's ARN filled in)."""
    return SwaggerGenerator(REGION, {"api_handler_arn": FUNCTION_ARN}).generate_swagger(app)


def chalice_client() -> TypedAWSClient:
    """The client `chalice deploy` calls ImportRestApi and PutRestApi with."""
    session = botocore.session.get_session()
    session.set_config_variable("region", REGION)
    return TypedAWSClient(session)


def routes(rest_api_id: str) -> dict[str, list[str]]:
    """Every resource's path and its methods, as GetResources lists them."""
    apigateway = boto3.client("apigateway", region_name=REGION)
    items = apigateway.get_resources(restApiId=rest_api_id, limit=500)["items"]
    return {item["path"]: sorted(item.get("resourceMethods", {})) for item in items}


def test_chalice_s_swagger_2_document_imports_with_the_app_s_routes(apigateway_fixes, app):
    document = swagger_for(app)
    assert document["swagger"] == "2.0" and "description" not in document["info"]

    with mock_aws():
        rest_api_id = chalice_client().import_rest_api(document, "EDGE")
        imported = routes(rest_api_id)
        apigateway = boto3.client("apigateway", region_name=REGION)
        [batch] = [item for item in apigateway.get_resources(restApiId=rest_api_id)["items"]
                   if item["path"] == "/batches/{batch_id}"]
        integration = apigateway.get_integration(restApiId=rest_api_id, resourceId=batch["id"],
                                                 httpMethod="GET")

    assert imported == {
        "/": [],
        "/batches": [],
        "/batches/{batch_id}": ["GET"],
        "/batches/{batch_id}/customers": [],
        "/batches/{batch_id}/customers/{customer_id}": ["GET"],
        "/batches/{batch_id}/publish": ["POST"],
    }
    assert integration["type"].upper() == "AWS_PROXY"  # moto keeps the document's "aws_proxy"
    assert FUNCTION_ARN in integration["uri"]


def test_a_redeploy_puts_the_app_s_routes_in_place_of_the_old_ones(apigateway_fixes, app):
    document = swagger_for(app)
    older = copy.deepcopy(document)
    del older["paths"]["/batches/{batch_id}/publish"]

    with mock_aws():
        client = chalice_client()
        rest_api_id = client.import_rest_api(older, "EDGE")
        client.update_api_from_swagger(rest_api_id, document)  # PutRestApi, mode=overwrite
        redeployed = routes(rest_api_id)

    assert {path: methods for path, methods in redeployed.items() if methods} == {
        path: sorted(methods) for path, methods in app.routes.items()}


def test_with_fail_on_warnings_a_swagger_2_document_is_validated_as_swagger_2(apigateway_fixes, app):
    document = swagger_for(app)
    broken = copy.deepcopy(document)
    broken["paths"]["/batches/{batch_id}"]["get"]["responses"] = "none"

    with mock_aws():
        apigateway = boto3.client("apigateway", region_name=REGION)
        accepted = apigateway.import_rest_api(body=json.dumps(document), failOnWarnings=True)
        with pytest.raises(apigateway.exceptions.BadRequestException, match="OpenAPI document"):
            apigateway.import_rest_api(body=json.dumps(broken), failOnWarnings=True)
        imported = routes(accepted["id"])

    assert imported["/batches/{batch_id}/publish"] == ["POST"]
