// Key Vault in RBAC mode holding the service's secrets: the template
// encryption key, the template projection secret, the review webhook signing
// secret, the link signing key and the master of the per-device callback
// secrets (functions/crypto/service_secrets.py SECRET_NAMES). The app
// reads them with its identity (Key Vault Secrets User, read only).
// Secret values never pass through this template: the deploy workflow
// creates any missing one once with a random value (infra/README.md), so a
// redeployment can never replace the key that encrypts stored templates.
param name string
param location string
param tags object

@description('Principal id of the app identity.')
param principalId string
param privateEndpointSubnetId string
param dnsZoneId string

@description('Log Analytics workspace for the audit log.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: []
      virtualNetworkRules: []
    }
  }
}

resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-vault'
  params: {
    name: 'pe-${name}-vault'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: vault.id
    groupId: 'vault'
    dnsZoneId: dnsZoneId
  }
}

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
