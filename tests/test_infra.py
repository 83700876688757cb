"""The Bicep in infra/ against the names and settings the code uses.

Parses the templates with pycep (no Bicep CLI, no Azure account) and checks
what would break the service or its security if it drifted: the step queues
and their poison queues, the Blob and Cosmos DB containers, every app setting
the code reads in Azure, and the security settings of each resource.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
from pycep import BicepParser

# The code's own names: a queue, container or secret added to the code without the Bicep fails here.
from functions.crypto.service_secrets import SECRET_NAMES as KEY_VAULT_SECRETS
from functions.settings import Settings, azure_setting_names
from functions.steps.table import STEPS
from functions.storage import CONTAINERS as BLOB_CONTAINERS
from functions.storage import COSMOS_CONTAINERS

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
STEP_QUEUES = STEPS.queues

COSMOS_DATABASE = Settings.from_env({}).cosmos_database
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"

# Role definition ids (built-in roles).
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"


# -- reading the templates ---------------------------------------------------

@lru_cache(maxsize=None)
def parse(relative: str) -> dict:
    return BicepParser().parse(file_path=INFRA / relative)


def module(name: str) -> dict:
    return parse(f"modules/{name}.bicep")


def resources(tree: dict, type_: str) -> list[tuple[dict, dict]]:
    """(resource, config) for every resource of that type; loops unwrapped."""
    found = []
    for resource in tree.get("resources", {}).values():
        if resource["type"].lower() != type_.lower():
            continue
        config = resource["config"]
        if "loop_type" in config or "condition" in config and "config" in config:
            config = config["config"]
        found.append((resource, config))
    return found


def one(tree: dict, type_: str) -> dict:
    found = resources(tree, type_)
    assert len(found) == 1, f"expected one {type_}, found {len(found)}"
    return found[0][1]


def deployed_names(tree: dict, type_: str) -> set[str]:
    """Names of the resources of that type, resolving `for x in someVar` loops."""
    names: set[str] = set()
    for resource, config in resources(tree, type_):
        loop = resource["config"].get("loop_type")
        if loop:
            array = loop["detail"]["array_name"]
            names.update(tree["variables"][array]["value"])
        else:
            names.add(config["name"])
    return names


def app_settings() -> dict[str, object]:
    """The app settings main.bicep gives the function app (name -> value)."""
    return {s["name"]: s["value"] for s in parse("main.bicep")["variables"]["appSettings"]["value"]}


def missing_settings(defined: set[str] | dict, required: list[str]) -> set[str]:
    return set(required) - set(defined)


def role_ids(tree: dict) -> set[str]:
    """Role definition ids assigned in a template, variables resolved."""
    variables = {k: v["value"] for k, v in tree.get("variables", {}).items()}
    ids = set()
    for _, config in resources(tree, "Microsoft.Authorization/roleAssignments"):
        for value in _strings(config["properties"]["roleDefinitionId"]):
            value = variables.get(value, value)
            if isinstance(value, str) and len(value) == 36:
                ids.add(value)
    return ids


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# -- every file parses, every module exists -----------------------------------

BICEP_FILES = sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep"))


@pytest.mark.parametrize("relative", BICEP_FILES)
def test_bicep_parses_and_modules_exist(relative):
    tree = parse(relative)
    for mod in tree.get("modules", {}).values():
        path = (INFRA / relative).parent / mod["detail"]["path"]
        assert path.is_file(), f"{relative} uses missing module {path}"


def test_main_is_subscription_scoped_and_creates_the_group():
    tree = parse("main.bicep")
    assert tree["globals"]["scope"]["value"] == "subscription"
    assert resources(tree, "Microsoft.Resources/resourceGroups")


def test_parameter_files_name_main_and_every_environment_exists():
    for env in ("dev", "prod"):
        text = (INFRA / "env" / f"{env}.bicepparam").read_text()
        assert "using '../main.bicep'" in text
        assert f"param environmentName = '{env}'" in text


# -- names the code uses ------------------------------------------------------

def test_every_step_queue_and_its_poison_queue_exist():
    queues = deployed_names(module("storage"), "Microsoft.Storage/storageAccounts/queueServices/queues")
    expected = set(STEP_QUEUES) | {f"{q}-poison" for q in STEP_QUEUES}
    assert expected <= queues, f"missing queues: {sorted(expected - queues)}"


def test_blob_containers_exist_and_are_private():
    tree = module("storage")
    names = deployed_names(tree, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert set(BLOB_CONTAINERS) <= names, f"missing containers: {sorted(set(BLOB_CONTAINERS) - names)}"
    for _, config in resources(tree, "Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert config["properties"]["publicAccess"] == "None"
    # The deploy principal's write access is scoped to containers[2].
    assert tree["variables"]["dataContainers"]["value"][2] == "models"


def test_lifecycle_deletes_request_images_and_crops_keeps_enrolments_and_models():
    policy = one(module("storage"), "Microsoft.Storage/storageAccounts/managementPolicies")
    rules = policy["properties"]["policy"]["rules"]
    deleted = {}
    for rule in rules:
        definition = rule["definition"]
        if "delete" in definition["actions"]["baseBlob"]:
            for prefix in definition["filters"]["prefixMatch"]:
                deleted[prefix] = definition["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"]
    assert deleted.get("images/verifications/") == "imageRetentionDays"
    # Enrolment images and signature references (images/subjects/) live as long as the enrolment.
    assert not any("images/subjects/".startswith(p) for p in deleted), "the lifecycle would delete enrolments"
    assert deleted.get("crops/") == "imageRetentionDays"
    assert deleted.get("reviews/") == "reviewRetentionDays"
    assert not any(p.startswith("models") for p in deleted), "models must never be deleted automatically"


def test_cosmos_database_containers_and_partition_keys_match_the_code():
    tree = module("cosmos")
    assert tree["variables"]["databaseName"]["value"] == COSMOS_DATABASE
    names = deployed_names(tree, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    assert names == set(COSMOS_CONTAINERS)
    (_, config), = resources(tree, "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers")
    paths = config["properties"]["resource"]["partitionKey"]["paths"]
    assert set(COSMOS_CONTAINERS.values()) == {"/id"} and paths == ["/id"]


# -- app settings -------------------------------------------------------------

def test_function_app_defines_every_setting_the_code_reads_in_azure():
    missing = missing_settings(app_settings(), azure_setting_names())
    assert not missing, f"add to appSettings in infra/main.bicep: {sorted(missing)}"


def test_the_settings_check_notices_a_missing_name():
    # Guards the test above: a name the Bicep does not define must be reported.
    made_up = "BIOAUTH_NOT_A_REAL_SETTING"
    assert made_up not in app_settings()
    assert missing_settings(app_settings(), azure_setting_names() + [made_up]) == {made_up}
    queues = deployed_names(module("storage"), "Microsoft.Storage/storageAccounts/queueServices/queues")
    assert "no-such-queue" not in queues and queues


def test_app_settings_values_for_azure():
    settings = app_settings()
    assert settings["BIOAUTH_STORAGE"] == "azure"
    assert settings["BIOAUTH_RECORDS"] == "cosmos"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["BIOAUTH_COSMOS_DATABASE"] != "" and "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    # Identity-based storage only: no connection string, no keys or passwords.
    assert "AzureWebJobsStorage" not in settings
    for name in settings:
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            continue
        assert not any(word in name.upper() for word in ("PASSWORD", "ACCOUNTKEY", "CONNECTION_STRING", "SECRET"))


def test_both_hosting_options_get_the_same_settings():
    main = parse("main.bicep")["modules"]
    for name in ("functionApp", "gpuApp"):
        assert main[name]["config"]["config"]["params"]["appSettings"] == "appSettings"
    flex = one(module("functionapp-flex"), "Microsoft.Web/sites")
    assert flex["properties"]["siteConfig"]["appSettings"] == "appSettings"
    gpu = one(module("functionapp-gpu"), "Microsoft.App/containerApps")
    env = gpu["properties"]["template"]["containers"][0]["env"]
    assert env["function"]["parameters"]["arg_1"] == "appSettings"


SECRET_WORDS = ("accountkey", "primarykey", "masterkey", "secret", "password", "connectionstring", "sastoken")


def test_no_keys_or_secrets_leave_the_templates():
    for relative in BICEP_FILES:
        text = (INFRA / relative).read_text()
        assert "listKeys" not in text and "listConnectionStrings" not in text, relative
        for name in parse(relative).get("outputs", {}):
            if name == "appInsightsConnectionString":  # an address; local auth is off
                continue
            assert not any(w in name.lower() for w in SECRET_WORDS), (relative, name)


# -- hosting ------------------------------------------------------------------

def test_flex_consumption_python_and_front_door_only():
    plan = one(module("functionapp-flex"), "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    app = one(module("functionapp-flex"), "Microsoft.Web/sites")
    props = app["properties"]
    assert props["httpsOnly"] is True
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert props["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    site = props["siteConfig"]
    assert site["minTlsVersion"] == "1.2" and site["ftpsState"] == "Disabled"
    assert site["ipSecurityRestrictionsDefaultAction"] == "Deny"
    (rule,) = site["ipSecurityRestrictions"]
    assert rule["tag"] == "ServiceTag" and rule["ipAddress"] == "AzureFrontDoor.Backend"
    # pycep keeps the quotes of a quoted property name.
    assert rule["headers"]["'x-azure-fdid'"] == ["frontDoorId"]
    creds = resources(module("functionapp-flex"), "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {c["name"] for _, c in creds} == {"ftp", "scm"}
    assert all(c["properties"]["allow"] is False for _, c in creds)


def test_gpu_option_runs_functions_on_serverless_t4():
    tree = module("functionapp-gpu")
    environment = one(tree, "Microsoft.App/managedEnvironments")
    types = {p["workloadProfileType"] for p in environment["properties"]["workloadProfiles"]}
    assert "Consumption-GPU-NC8as-T4" in types
    assert environment["properties"]["publicNetworkAccess"] == "Disabled"
    app = one(tree, "Microsoft.App/containerApps")
    assert app["kind"] == "functionapp"
    assert app["properties"]["workloadProfileName"] == "gpuProfileName"
    gpu_profiles = [p for p in environment["properties"]["workloadProfiles"] if p["name"] == "gpuProfileName"]
    assert gpu_profiles[0]["workloadProfileType"] == "Consumption-GPU-NC8as-T4"
    main = parse("main.bicep")
    assert main["parameters"]["compute"]["default"] == "cpu"


# -- security settings --------------------------------------------------------

@pytest.mark.parametrize("name", ["storage", "console"])
def test_storage_accounts_identity_only_tls12_no_public_blobs(name):
    account = one(module(name), "Microsoft.Storage/storageAccounts")["properties"]
    assert account["allowSharedKeyAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    assert account["allowBlobPublicAccess"] is False
    assert account["supportsHttpsTrafficOnly"] is True
    assert account["networkAcls"]["defaultAction"] == "Deny"


def test_cosmos_serverless_without_keys_or_public_network():
    account = one(module("cosmos"), "Microsoft.DocumentDB/databaseAccounts")["properties"]
    assert account["disableLocalAuth"] is True
    assert account["disableKeyBasedMetadataWriteAccess"] is True
    assert account["publicNetworkAccess"] == "Disabled"
    assert {"name": "EnableServerless"} in account["capabilities"]


def test_key_vault_rbac_purge_protection_soft_delete():
    vault = one(module("keyvault"), "Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    assert vault["enableSoftDelete"] is True
    assert vault["publicNetworkAccess"] == "Disabled"


def test_waf_prevention_default_rules_bots_and_rate_limit():
    tree = module("frontdoor")
    profile = one(tree, "Microsoft.Cdn/profiles")
    assert profile["sku"]["name"] == "Premium_AzureFrontDoor"
    waf = one(tree, "Microsoft.Network/FrontDoorWebApplicationFirewallPolicies")
    assert waf["sku"]["name"] == "Premium_AzureFrontDoor"
    props = waf["properties"]
    assert props["policySettings"]["mode"] == "Prevention"
    assert props["policySettings"]["enabledState"] == "Enabled"
    rule_sets = {r["ruleSetType"] for r in props["managedRules"]["managedRuleSets"]}
    assert {"Microsoft_DefaultRuleSet", "Microsoft_BotManagerRuleSet"} <= rule_sets
    limits = [r for r in props["customRules"]["rules"] if r["ruleType"] == "RateLimitRule"]
    assert limits and limits[0]["action"] == "Block"
    assert limits[0]["groupBy"] == [{"variableName": "SocketAddr"}]
    policy = one(tree, "Microsoft.Cdn/profiles/securityPolicies")
    assert policy["properties"]["parameters"]["type"] == "WebApplicationFirewall"


def test_front_door_routes_api_uncached_and_console_cached():
    routes = {c["name"]: c["properties"] for _, c in resources(module("frontdoor-routes"), "Microsoft.Cdn/profiles/afdEndpoints/routes")}
    assert routes["api"]["patternsToMatch"] == ["/api/*"] and "cacheConfiguration" not in routes["api"]
    assert "cacheConfiguration" in routes["console"]
    for route in routes.values():
        assert route["forwardingProtocol"] == "HttpsOnly" and route["httpsRedirect"] == "Enabled"


def test_app_identity_has_the_data_roles_it_needs():
    assert {STORAGE_BLOB_DATA_OWNER, STORAGE_QUEUE_DATA_CONTRIBUTOR} <= role_ids(module("storage"))
    assert KEY_VAULT_SECRETS_USER in role_ids(module("keyvault"))
    cosmos_role = one(module("cosmos"), "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    assert COSMOS_DATA_CONTRIBUTOR in cosmos_role["properties"]["roleDefinitionId"]


# -- the deploy workflow ------------------------------------------------------

def test_workflow_deploys_this_template_with_oidc_and_no_stored_secrets():
    text = WORKFLOW.read_text()
    assert "az deployment sub what-if" in text and "az deployment sub create" in text
    assert "--template-file infra/main.bicep" in text
    assert "azure/login@" in text and "client-id: ${{ vars.AZURE_CLIENT_ID }}" in text
    assert "secrets." not in text, "log in with OIDC and repository variables, not stored secrets"
    assert "bash .ci/run" in text  # which runs infra/check.sh and the tests


def test_workflow_creates_every_key_vault_secret_the_code_reads():
    line = next(l for l in WORKFLOW.read_text().splitlines() if "for name in template-key" in l)
    names = line.split(" in ", 1)[1].split(";")[0].split()
    assert set(names) == set(KEY_VAULT_SECRETS)
