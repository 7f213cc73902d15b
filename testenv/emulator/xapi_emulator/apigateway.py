"""API Gateway (REST, v1) rules moto 5.2.5 lacks.

* PutIntegration keeps ``connectionId`` and GetIntegration returns it.
* UpdateMethod / UpdateIntegration / UpdateResource / UpdateDeployment apply
  patch operations (moto answers 500 "not implemented").
* UpdateRestApi applies ``/endpointConfiguration/vpcEndpointIds`` add/remove/
  replace, and policies are stored the way API Gateway stores them
  (policy.py) for CreateRestApi, UpdateRestApi ``/policy`` and PutRestApi's
  ``x-amazon-apigateway-policy``.
* DeleteRestApi of an unknown id is NotFoundException, not a 500.
* CreateDeployment refuses an API in which any method lacks an integration
  (moto refuses only when no method has one, and with a 404).
* Resource policies over 8192 characters and over-long tags are refused
  (limits.py).
* Each deployment remembers which VPC links its integrations used, so
  DeleteVpcLink can refuse while a stage still serves one (vpclink.py), and
  a copy of the whole API as deployed (snapshot.py).
* TestInvokeMethod runs a method and, through VPC links, the private APIs
  behind them (testinvoke.py).

VPC link lifecycle lives in vpclink.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.apigateway import models as m
from moto.apigateway.exceptions import (
    BadRequestException,
    InvalidResourcePathException,
    NotFoundException,
    RestAPINotFound,
)
from moto.apigateway.responses import APIGatewayResponse

from . import limits, patchops, policy, snapshot, testinvoke, vpclink
from .patchops import Field, Schema

_installed = False

METHOD_SCHEMA = Schema({
    "authorizationType": Field("authorization_type"),
    "authorizerId": Field("authorizer_id"),
    "apiKeyRequired": Field("api_key_required", convert=patchops.to_bool),
    "operationName": Field("operation_name"),
    "requestValidatorId": Field("request_validator_id"),
    "requestParameters": Field("request_parameters", kind="map", convert=patchops.to_bool),
    "requestModels": Field("request_models", kind="map"),
    "authorizationScopes": Field("authorization_scopes", kind="list"),
})

INTEGRATION_SCHEMA = Schema({
    "type": Field("integration_type"),
    "uri": Field("uri"),
    "httpMethod": Field("http_method"),
    "connectionId": Field("connection_id"),
    "connectionType": Field("connection_type"),
    "credentials": Field("credentials"),
    "passthroughBehavior": Field("passthrough_behaviour"),
    "contentHandling": Field("content_handling"),
    "timeoutInMillis": Field("timeout_in_millis", convert=int),
    "cacheNamespace": Field("cache_namespace"),
    "requestParameters": Field("request_parameters", kind="map"),
    "requestTemplates": Field("request_templates", kind="map"),
    "cacheKeyParameters": Field("cache_key_parameters", kind="list"),
})

RESOURCE_SCHEMA = Schema({
    "pathPart": Field("path_part"),
    "parentId": Field("parent_id"),
})

DEPLOYMENT_SCHEMA = Schema({
    "description": Field("description"),
})

_VPCE_PATH = "/endpointConfiguration/vpcEndpointIds"


def _path_parts(resp: APIGatewayResponse) -> list[str]:
    return resp.path.split("/")


# --- integration connectionId -------------------------------------------------

def _integration_to_json(orig):
    def to_json(self: m.Integration) -> dict[str, Any]:
        out = orig(self)
        out["connectionId"] = getattr(self, "connection_id", None)
        return out
    return to_json


def _put_integration(orig):
    def put_integration(self: APIGatewayResponse):
        status, headers, _body = orig(self)
        parts = _path_parts(self)
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.connection_id = self._get_param("connectionId")
        _validate_integration(integration)
        return status, headers, json.dumps(integration.to_json())
    return put_integration


def _validate_integration(integration: m.Integration) -> None:
    if integration.connection_type == "VPC_LINK" and not getattr(integration, "connection_id", None):
        raise BadRequestException("Connection Id must be specified for connection type VPC_LINK.")


# --- Update* operations moto lacks -------------------------------------------

def update_method(self: APIGatewayResponse):
    parts = _path_parts(self)
    api = self.backend.get_rest_api(parts[2])
    method = self.backend.get_method(parts[2], parts[4], parts[6])
    new = patchops.apply(method, self._get_param("patchOperations"), METHOD_SCHEMA)
    if new.authorization_type in ("CUSTOM", "COGNITO_USER_POOLS") and new.authorizer_id not in api.authorizers:
        raise BadRequestException(
            "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
            "COGNITO_USER_POOLS requires a valid authorizer."
        )
    if new.authorization_type not in ("CUSTOM", "COGNITO_USER_POOLS"):
        new.authorizer_id = None
    patchops.commit(method, new)
    return 200, {}, json.dumps(method.to_json())


def update_integration(self: APIGatewayResponse):
    parts = _path_parts(self)
    integration = self.backend.get_integration(parts[2], parts[4], parts[6])
    if integration is None:
        raise NotFoundException("Invalid Integration identifier specified")
    new = patchops.apply(integration, self._get_param("patchOperations"), INTEGRATION_SCHEMA)
    _validate_integration(new)
    patchops.commit(integration, new)
    return 200, {}, json.dumps(integration.to_json())


def update_resource(self: APIGatewayResponse):
    parts = _path_parts(self)
    api = self.backend.get_rest_api(parts[2])
    resource = self.backend.get_resource(parts[2], parts[4])
    new = patchops.apply(resource, self._get_param("patchOperations"), RESOURCE_SCHEMA)
    if not re.match(r"^\{?[a-zA-Z0-9._\-:]+\+?\}?$", new.path_part or ""):
        raise InvalidResourcePathException()
    if new.parent_id not in api.resources:
        raise NotFoundException("Invalid Resource identifier specified")
    for other in api.resources.values():
        if other.id != resource.id and other.parent_id == new.parent_id and other.path_part == new.path_part:
            raise m.ConflictException(
                f"Another resource with the same parent already has this name: {new.path_part}"
            )
    patchops.commit(resource, new)
    return 200, {}, json.dumps(resource.to_dict())


def update_deployment(self: APIGatewayResponse):
    parts = _path_parts(self)
    api = self.backend.get_rest_api(parts[2])
    deployment = api.deployments.get(parts[4])
    if deployment is None:
        raise NotFoundException("Invalid Deployment identifier specified")
    new = patchops.apply(deployment, self._get_param("patchOperations"), DEPLOYMENT_SCHEMA)
    patchops.commit(deployment, new)
    return 200, {}, json.dumps(deployment.to_json())


# --- REST API: endpoint ids, policy, delete -----------------------------------

def _apply_rest_api_patch(orig):
    def apply_patch_operations(self: m.RestAPI, patch_operations: list[dict[str, Any]]) -> None:
        rest: list[dict[str, Any]] = []
        config = self.endpoint_configuration
        for op in patch_operations or []:
            # Refuse before applying anything, so a refused call changes nothing.
            if op.get("path") == "/policy" and op.get("op") != "remove":
                limits.check_policy_length(op.get("value"))
        for op in patch_operations or []:
            path, verb, value = op.get("path", ""), op.get("op"), op.get("value")
            if path.startswith(_VPCE_PATH):
                ids = list(config.get("vpcEndpointIds") or [])
                old = path[len(_VPCE_PATH) + 1:] if path != _VPCE_PATH else None
                values = [v.strip() for v in str(value or "").split(",") if v.strip()]
                if verb == "add":
                    ids += [v for v in values if v not in ids]
                elif verb == "remove":
                    gone = set(values) | ({old} if old else set())
                    ids = [v for v in ids if v not in gone]
                elif verb == "replace":
                    if old:
                        ids = [values[0] if v == old else v for v in ids] if values else [v for v in ids if v != old]
                    else:
                        ids = values
                config["vpcEndpointIds"] = ids
            elif path == "/policy":
                if verb == "remove":
                    self.policy = None
                else:
                    self.policy = policy.store_form(value, self.account_id, self.region_name, self.id)
            else:
                rest.append(op)
        orig(self, rest)
    return apply_patch_operations


def _create_rest_api(orig):
    def create_rest_api(self: m.APIGatewayBackend, *args: Any, **kwargs: Any) -> m.RestAPI:
        raw = kwargs.get("policy")
        limits.check_policy_length(raw)
        limits.check_tags(kwargs.get("tags"))
        if raw:
            policy.parse(raw)  # refuse an invalid document before creating anything
        api = orig(self, *args, **kwargs)
        api.policy = policy.store_form(raw, self.account_id, self.region_name, api.id)
        return api
    return create_rest_api


def _put_rest_api(orig):
    def put_rest_api(self: m.APIGatewayBackend, function_id: str, api_doc: dict[str, Any], *args: Any, **kwargs: Any):
        doc_policy = (api_doc or {}).get("x-amazon-apigateway-policy")
        # The policy arrives as part of the parsed OpenAPI document: measure it compactly serialised.
        raw = None if doc_policy is None else (
            doc_policy if isinstance(doc_policy, str) else json.dumps(doc_policy, separators=(",", ":")))
        limits.check_policy_length(raw)
        api = orig(self, function_id, api_doc, *args, **kwargs)
        if raw is not None:
            api.policy = policy.store_form(raw, self.account_id, self.region_name, api.id)
        return api
    return put_rest_api


def _delete_rest_api(orig):
    def delete_rest_api(self: m.APIGatewayBackend, function_id: str) -> m.RestAPI:
        if function_id not in self.apis:
            raise RestAPINotFound()
        return orig(self, function_id)
    return delete_rest_api


def _backend_create_resource(orig):
    def create_resource(self: m.APIGatewayBackend, function_id: str, parent_resource_id: str, path_part: str) -> m.Resource:
        # AWS refuses a second child of the same name; moto adds it beside the first.
        api = self.get_rest_api(function_id)
        for other in api.resources.values():
            if other.parent_id == parent_resource_id and other.path_part == path_part:
                raise m.ConflictException(f"Another resource with the same parent already has this name: {path_part}")
        return orig(self, function_id, parent_resource_id, path_part)
    return create_resource


def _backend_create_deployment(orig):
    def create_deployment(self: m.APIGatewayBackend, function_id: str, *args: Any, **kwargs: Any) -> m.Deployment:
        # AWS checks every method of every resource; moto only refuses when none has an integration.
        api = self.get_rest_api(function_id)
        for resource in api.resources.values():
            for method in resource.resource_methods.values():
                if method.method_integration is None:
                    raise BadRequestException("No integration defined for method")
        return orig(self, function_id, *args, **kwargs)
    return create_deployment


def _tag_resource(orig):
    def tag_resource(self: APIGatewayResponse):
        limits.check_tags(self._get_param("tags"))
        return orig(self)
    return tag_resource


def _create_deployment(orig):
    def create_deployment(self: m.RestAPI, *args: Any, **kwargs: Any) -> m.Deployment:
        # AWS refuses to deploy a PRIVATE API that has no resource policy.
        types = (getattr(self, "endpoint_configuration", None) or {}).get("types") or []
        if "PRIVATE" in types and not self.policy:
            raise BadRequestException("Private REST API doesn't have a resource policy attached to it")
        deployment = orig(self, *args, **kwargs)
        deployment.xapi_vpc_links = vpclink.integration_links(self)
        # A stage serves what was deployed, not later edits (snapshot.py).
        deployment.xapi_snapshot = snapshot.take(self)
        return deployment
    return create_deployment


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    m.Integration.to_json = _integration_to_json(m.Integration.to_json)
    APIGatewayResponse.put_integration = _put_integration(APIGatewayResponse.put_integration)
    APIGatewayResponse.update_method = update_method
    APIGatewayResponse.update_integration = update_integration
    APIGatewayResponse.update_resource = update_resource
    APIGatewayResponse.update_deployment = update_deployment
    m.RestAPI.apply_patch_operations = _apply_rest_api_patch(m.RestAPI.apply_patch_operations)
    m.RestAPI.create_deployment = _create_deployment(m.RestAPI.create_deployment)
    m.APIGatewayBackend.create_rest_api = _create_rest_api(m.APIGatewayBackend.create_rest_api)
    m.APIGatewayBackend.put_rest_api = _put_rest_api(m.APIGatewayBackend.put_rest_api)
    m.APIGatewayBackend.delete_rest_api = _delete_rest_api(m.APIGatewayBackend.delete_rest_api)
    m.APIGatewayBackend.create_deployment = _backend_create_deployment(m.APIGatewayBackend.create_deployment)
    m.APIGatewayBackend.create_resource = _backend_create_resource(m.APIGatewayBackend.create_resource)
    APIGatewayResponse.tag_resource = _tag_resource(APIGatewayResponse.tag_resource)
    APIGatewayResponse.test_invoke_method = testinvoke.test_invoke_method
    vpclink.install()
