// The Function App on Flex Consumption (Linux, CPU, onnxruntime). Runtime and
// version are set in functionAppConfig: Flex Consumption rejects the
// FUNCTIONS_WORKER_RUNTIME and FUNCTIONS_EXTENSION_VERSION app settings.
// Only Front Door reaches it: the access restriction admits the
// AzureFrontDoor.Backend service tag and only with our profile's X-Azure-FDID.
param planName string
param appName string
param location string
param tags object
param identityId string
param identityClientId string

@description('App settings, [{ name, value }], from main.bicep.')
param appSettings array

@description('Blob container URL that holds the deployment package.')
param deploymentContainerUrl string
param subnetId string

@description('Front Door profile id (the X-Azure-FDID header value).')
param frontDoorId string
param maximumInstanceCount int

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone-redundant Flex Consumption keeps two always-ready instances per function group, billed while idle, and exists only in some regions; turn it on per environment when that cost is wanted
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: public endpoint on purpose, it is Front Door's origin; the access restriction admits only AzureFrontDoor.Backend with this profile's X-Azure-FDID and denies the rest
  // checkov:skip=CKV_AZURE_17: Front Door terminates TLS and does not pass client certificates on to its origin, so the origin cannot require them
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales per function from zero; there is no App Service instance count
  // checkov:skip=CKV_AZURE_213: the platform health check is not supported on Flex Consumption; an Application Insights availability test and the deploy smoke test call /api/health through Front Door
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: subnetId
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      vnetRouteAllEnabled: true
      cors: {
        allowedOrigins: []
      }
      ipSecurityRestrictionsDefaultAction: 'Deny'
      ipSecurityRestrictions: [
        {
          name: 'front-door-only'
          action: 'Allow'
          priority: 100
          tag: 'ServiceTag'
          ipAddress: 'AzureFrontDoor.Backend'
          headers: {
            'x-azure-fdid': [
              frontDoorId
            ]
          }
        }
      ]
      // Deployments reach the SCM site with Entra ID tokens (basic auth is off below).
      scmIpSecurityRestrictionsUseMain: false
      appSettings: appSettings
    }
  }
}

// No publishing passwords: deploy with Entra ID only.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output identityClientId string = identityClientId
