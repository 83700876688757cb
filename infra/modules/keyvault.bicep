// Key Vault in RBAC mode holding the key that protects biometric templates.
// The app reads it with its identity: Crypto User (wrap/unwrap with the key)
// and Secrets User (read secrets such as the review webhook signing secret).
param name string
param location string
param tags object

@description('Principal id of the app identity.')
param principalId string

@description('Expiry of the template key (ISO 8601).')
param templateKeyExpiry string
param privateEndpointSubnetId string
param dnsZoneId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    // Premium so that the template key lives in an HSM.
    sku: {
      family: 'A'
      name: 'premium'
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

// Created once by the deployment; later deployments leave the key material
// alone and the rotation policy issues new versions.
resource templateKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'template-key'
  properties: {
    kty: 'RSA-HSM'
    keySize: 3072
    keyOps: [
      'wrapKey'
      'unwrapKey'
      'encrypt'
      'decrypt'
    ]
    attributes: {
      enabled: true
      exp: dateTimeToEpoch(templateKeyExpiry)
    }
    rotationPolicy: {
      attributes: {
        expiryTime: 'P2Y'
      }
      lifetimeActions: [
        {
          trigger: {
            timeBeforeExpiry: 'P60D'
          }
          action: {
            type: 'rotate'
          }
        }
        {
          trigger: {
            timeBeforeExpiry: 'P30D'
          }
          action: {
            type: 'notify'
          }
        }
      ]
    }
  }
}

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var cryptoUserRoleId = '12338af0-0e69-4776-bea7-57ae8d297424'

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Scoped to the one key, not the whole vault.
resource cryptoUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(templateKey.id, principalId, cryptoUserRoleId)
  scope: templateKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cryptoUserRoleId)
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
output vaultUri string = vault.properties.vaultUri
output templateKeyName string = templateKey.name
