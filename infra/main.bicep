// bioauth: the whole environment in one deployment.
//
// Subscription scope so that `az deployment sub create` also creates the
// resource group; every resource lives in modules scoped to that group.
// Security settings are written as literals inside the modules (not passed in
// as parameters) so that static checks can see them.
targetScope = 'subscription'

@description('Short environment name, lowercase letters and digits only (it is part of resource names): dev, prod, ...')
@minLength(2)
@maxLength(8)
param environmentName string

@description('Azure region of every regional resource (Front Door is global).')
param location string = 'swedencentral'

@description('Resource group to create or update.')
param resourceGroupName string = 'rg-bioauth-${environmentName}'

@description('cpu = Flex Consumption (default); gpu = Azure Functions on Azure Container Apps with a serverless T4 GPU (onnxruntime-gpu).')
@allowed([
  'cpu'
  'gpu'
])
param compute string = 'cpu'

@description('gpu only: the function app image built with infra/gpu/Dockerfile (onnxruntime-gpu), e.g. myregistry.azurecr.io/bioauth:<commit>; empty = a placeholder image.')
param gpuContainerImage string = ''

@description('gpu only: name of the existing Azure Container Registry holding that image; empty = a public image.')
param gpuRegistryName string = ''

@description('gpu only: resource group of that registry (default: this one); the app identity gets AcrPull on the registry.')
param gpuRegistryResourceGroup string = ''

@description('Days before raw request images and crops are deleted.')
@minValue(1)
param imageRetentionDays int = 30

@description('Days before reviewed cases (labelled training pairs) are deleted.')
@minValue(1)
param reviewRetentionDays int = 730

@description('Where cases in doubt are POSTed for human review; empty = record only.')
param reviewWebhookUrl string = ''

@description('Requests per minute allowed from one client IP before the WAF blocks it.')
@minValue(10)
param rateLimitPerMinute int = 120

@description('Public egress addresses (CIDR) of sites with several kiosks behind one NAT; the WAF gives each siteRateLimitPerMinute.')
param siteAddresses array = []

@description('Requests a minute the WAF allows from one site address (about 60 per kiosk there).')
@minValue(10)
param siteRateLimitPerMinute int = 1200

@description('Requests a minute each credential may make on average, checked by the app per key (token bucket per instance).')
param keyRateLimitPerMinute int = 120

@description('Requests a credential may make at once before its per-minute rate applies.')
param keyRateLimitBurst int = 30

@description('Flex Consumption: largest number of instances.')
@minValue(1)
param maximumInstanceCount int = 40

@description('Object id of the deploying principal (CI). It gets write access to the models container and the console files; empty = none.')
param deployPrincipalId string = ''

@description('Tags on every resource.')
@description('Email that receives operations alerts (poison messages, queue age, 5xx, latency, missing model); empty: none.')
param alertEmail string = ''

param tags object = {}

var allTags = union(tags, {
  application: 'bioauth'
  environment: environmentName
})

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: resourceGroupName
  location: location
  tags: allTags
}

// One suffix for globally unique names, stable per subscription + group.
var suffix = take(uniqueString(subscription().id, resourceGroupName), 8)

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'identity'
  params: {
    name: 'id-bioauth-${environmentName}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  name: 'monitoring'
  params: {
    workspaceName: 'log-bioauth-${environmentName}'
    appInsightsName: 'appi-bioauth-${environmentName}'
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
  }
}

module network 'modules/network.bicep' = {
  scope: rg
  name: 'network'
  params: {
    name: 'vnet-bioauth-${environmentName}'
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  name: 'storage'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    name: 'stbioauth${suffix}'
    location: location
    tags: allTags
    imageRetentionDays: imageRetentionDays
    reviewRetentionDays: reviewRetentionDays
    principalId: identity.outputs.principalId
    deployPrincipalId: deployPrincipalId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    blobDnsZoneId: network.outputs.blobDnsZoneId
    queueDnsZoneId: network.outputs.queueDnsZoneId
  }
}

module console 'modules/console.bicep' = {
  scope: rg
  name: 'console'
  params: {
    name: 'stconsole${suffix}'
    location: location
    tags: allTags
    deployPrincipalId: deployPrincipalId
  }
}

module cosmos 'modules/cosmos.bicep' = {
  scope: rg
  name: 'cosmos'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    name: 'cosmos-bioauth-${suffix}'
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    dnsZoneId: network.outputs.cosmosDnsZoneId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  scope: rg
  name: 'keyvault'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    name: 'kv-bioauth-${suffix}'
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
    privateEndpointSubnetId: network.outputs.privateEndpointSubnetId
    dnsZoneId: network.outputs.keyVaultDnsZoneId
  }
}

// Front Door first (profile, endpoint, WAF): the app needs its id for the
// X-Azure-FDID check and its hostname for public links. Origins and routes
// come after the app, in frontdoor-routes.bicep.
module frontDoor 'modules/frontdoor.bicep' = {
  scope: rg
  name: 'frontdoor'
  params: {
    workspaceId: monitoring.outputs.workspaceId
    profileName: 'afd-bioauth-${environmentName}'
    endpointName: 'bioauth-${environmentName}-${suffix}'
    wafPolicyName: 'wafbioauth${environmentName}'
    rateLimitPerMinute: rateLimitPerMinute
    siteAddresses: siteAddresses
    siteRateLimitPerMinute: siteRateLimitPerMinute
    tags: allTags
  }
}

// Every setting the code reads in Azure (functions/settings.py,
// azure_setting_names()). tests/test_infra.py fails when one is missing.
// No secrets here: storage, Cosmos DB and Key Vault are reached with the
// user-assigned identity.
var appSettings = [
  {
    name: 'BIOAUTH_STORAGE'
    value: 'azure'
  }
  {
    name: 'BIOAUTH_RECORDS'
    value: 'cosmos'
  }
  {
    name: 'BIOAUTH_MODELS_DIR'
    value: 'models'
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.outputs.blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.outputs.queueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identity.outputs.clientId
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.outputs.clientId
  }
  {
    name: 'BIOAUTH_COSMOS_ENDPOINT'
    value: cosmos.outputs.endpoint
  }
  {
    name: 'BIOAUTH_COSMOS_DATABASE'
    value: cosmos.outputs.databaseName
  }
  {
    name: 'BIOAUTH_KEY_VAULT_URL'
    value: keyVault.outputs.vaultUri
  }
  {
    name: 'BIOAUTH_REVIEW_WEBHOOK_URL'
    value: reviewWebhookUrl
  }
  {
    name: 'BIOAUTH_REVIEW_LINK_TTL_SECONDS'
    value: '900'
  }
  {
    name: 'BIOAUTH_PUBLIC_BASE_URL'
    value: 'https://${frontDoor.outputs.endpointHostName}'
  }
  {
    name: 'BIOAUTH_MAX_BODY_BYTES'
    value: '20000000'
  }
  {
    name: 'BIOAUTH_MAX_IMAGE_BYTES'
    value: '8000000'
  }
  {
    name: 'BIOAUTH_MAX_IMAGE_PIXELS'
    value: '16000000'
  }
  {
    name: 'BIOAUTH_MAX_SIGNATURE_PIXELS'
    value: '4000000'
  }
  {
    name: 'BIOAUTH_MAX_CONCURRENT_IMAGE_STEPS'
    value: '2'
  }
  {
    name: 'BIOAUTH_ONNX_INTRA_OP_THREADS'
    value: '1'
  }
  {
    // numpy's OpenBLAS: one thread, not a spinning worker per core (functions/__init__.py sets it too).
    name: 'OPENBLAS_NUM_THREADS'
    value: '1'
  }
  {
    // glibc, read at the worker's start: freed image buffers go back to the OS, threads share two heaps.
    name: 'MALLOC_MMAP_THRESHOLD_'
    value: '131072'
  }
  {
    name: 'MALLOC_ARENA_MAX'
    value: '2'
  }
  {
    name: 'BIOAUTH_MULTIPLE_FACES'
    value: 'dominant'
  }
  {
    name: 'BIOAUTH_MIN_FACE_SCORE'
    value: '0.6'
  }
  {
    name: 'BIOAUTH_MIN_EYE_DISTANCE_PX'
    value: '24'
  }
  {
    name: 'BIOAUTH_CONTEXT_SCALE'
    value: '2.0'
  }
  {
    name: 'BIOAUTH_SPOOF_ACTION'
    value: 'reject'
  }
  {
    name: 'BIOAUTH_FACE_REVIEW_MARGIN'
    value: '0.0'
  }
  {
    // 'fused' (vetoes, then the summed calibrated evidence against models/decision/policy.json) or 'all'.
    name: 'BIOAUTH_DECISION_POLICY'
    value: 'fused'
  }
  {
    name: 'BIOAUTH_SYNC_LEASE_SECONDS'
    value: '60'
  }
  {
    // A device's status read held with ?wait= until its decision; each waiting read holds a worker thread.
    name: 'BIOAUTH_MAX_WAIT_SECONDS'
    value: '20'
  }
  {
    name: 'BIOAUTH_ENQUEUE_WAIT_SECONDS'
    value: '10'
  }
  {
    name: 'BIOAUTH_RETAIN_ENROLMENT_IMAGES'
    value: 'true'
  }
  {
    name: 'BIOAUTH_TELEMETRY'
    value: 'azure'
  }
  {
    name: 'BIOAUTH_LOG_FORMAT'
    value: 'text'
  }
  {
    name: 'BIOAUTH_RATE_LIMIT_PER_MINUTE'
    value: string(keyRateLimitPerMinute)
  }
  {
    name: 'BIOAUTH_RATE_LIMIT_BURST'
    value: string(keyRateLimitBurst)
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: monitoring.outputs.appInsightsConnectionString
  }
  {
    // Application Insights accepts only Entra ID tokens (local auth is off).
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  }
]

module functionApp 'modules/functionapp-flex.bicep' = if (compute == 'cpu') {
  scope: rg
  name: 'functionapp-flex'
  params: {
    planName: 'asp-bioauth-${environmentName}'
    appName: 'func-bioauth-${environmentName}-${suffix}'
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    appSettings: appSettings
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${storage.outputs.deploymentContainer}'
    subnetId: network.outputs.functionSubnetId
    frontDoorId: frontDoor.outputs.frontDoorId
    maximumInstanceCount: maximumInstanceCount
  }
}

module acrPull 'modules/acr-pull.bicep' = if (compute == 'gpu' && !empty(gpuRegistryName)) {
  // Defaults to the app's own resource group when none is given.
  scope: resourceGroup(empty(gpuRegistryResourceGroup) ? resourceGroupName : gpuRegistryResourceGroup)
  name: 'acr-pull-${environmentName}'
  params: {
    registryName: gpuRegistryName
    principalId: identity.outputs.principalId
  }
  // The scope is given by name, so the group this template creates must exist first.
  dependsOn: [
    rg
  ]
}

module gpuApp 'modules/functionapp-gpu.bicep' = if (compute == 'gpu') {
  scope: rg
  name: 'functionapp-gpu'
  params: {
    environmentName: 'cae-bioauth-${environmentName}'
    appName: 'ca-bioauth-${environmentName}'
    location: location
    tags: allTags
    identityId: identity.outputs.id
    appSettings: appSettings
    image: gpuContainerImage
    registryServer: empty(gpuRegistryName) ? '' : '${gpuRegistryName}${environment().suffixes.acrLoginServer}'
    subnetId: network.outputs.containerAppsSubnetId
    workspaceId: monitoring.outputs.workspaceId
  }
  dependsOn: [
    acrPull
  ]
}

module frontDoorRoutes 'modules/frontdoor-routes.bicep' = {
  scope: rg
  name: 'frontdoor-routes'
  params: {
    profileName: frontDoor.outputs.profileName
    endpointName: frontDoor.outputs.endpointName
    location: location
    apiHostName: compute == 'cpu' ? functionApp.outputs.defaultHostName : gpuApp.outputs.fqdn
    apiPrivateLinkId: compute == 'cpu' ? '' : gpuApp.outputs.environmentId
    consoleHostName: console.outputs.webHostName
    consoleStorageId: console.outputs.id
  }
}

module availability 'modules/availability.bicep' = {
  scope: rg
  name: 'availability'
  params: {
    name: 'health-bioauth-${environmentName}'
    location: location
    tags: allTags
    appInsightsId: monitoring.outputs.appInsightsId
    url: 'https://${frontDoor.outputs.endpointHostName}/api/health'
  }
  dependsOn: [
    frontDoorRoutes
  ]
}

module alerts 'modules/alerts.bicep' = {
  scope: rg
  name: 'alerts'
  params: {
    namePrefix: 'bioauth-${environmentName}'
    location: location
    tags: allTags
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmail: alertEmail
  }
}

output resourceGroupName string = rg.name
output frontDoorEndpointHostName string = frontDoor.outputs.endpointHostName
output frontDoorProfileName string = frontDoor.outputs.profileName
output frontDoorEndpointName string = frontDoor.outputs.endpointName
output publicBaseUrl string = 'https://${frontDoor.outputs.endpointHostName}'
output compute string = compute
output functionAppName string = compute == 'cpu' ? functionApp.outputs.name : gpuApp.outputs.name
output storageAccountName string = storage.outputs.name
output modelsContainerName string = storage.outputs.modelsContainer
output consoleStorageAccountName string = console.outputs.name
output cosmosAccountName string = cosmos.outputs.name
output keyVaultName string = keyVault.outputs.name
output identityClientId string = identity.outputs.clientId
