// Storage for the service: the step queues, the image / crop / model / review
// containers, and the Flex Consumption deployment package.
// Identity only: shared keys are off, so no connection string exists.
param name string
param location string
param tags object
param imageRetentionDays int
param reviewRetentionDays int

@description('Principal id of the app identity.')
param principalId string

@description('Object id of the deploying principal; empty = none.')
param deployPrincipalId string = ''
param privateEndpointSubnetId string
param blobDnsZoneId string
param queueDnsZoneId string

@description('Log Analytics workspace for the blob access log.')
param workspaceId string

// The names the code uses (functions/): keep in step with tests/test_infra.py.
// The Functions host moves a message that keeps failing to <queue>-poison;
// creating those here lets alerts and dashboards point at them from day one.
var queueNames = [
  'face-crop'
  'face-crop-poison'
  'antispoof'
  'antispoof-poison'
  'face-match'
  'face-match-poison'
  'signature'
  'signature-poison'
  'decide'
  'decide-poison'
  'review'
  'review-poison'
  'notify'
  'notify-poison'
]
var dataContainers = [
  'images'
  'crops'
  'models'
  'reviews'
]
var deploymentContainer = 'app-package'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_59: public network access stays 'Enabled' only so the firewall (default Deny, no IP rules) can let the deploy runner in for the models upload; the app uses private endpoints
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // Zone- and geo-redundant: models and labelled reviews survive a region loss.
    name: 'Standard_GZRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: []
      virtualNetworkRules: []
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

// Who read, wrote or deleted which biometric image. Queue polling is left
// out: it would log every empty poll.
resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in dataContainers: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queue in queueNames: {
  parent: queueService
  name: queue
}]

// Retention: request images and crops are personal data kept only as long as
// needed; reviewed cases are labelled training pairs and stay longer; models
// are never deleted automatically.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-request-images'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              // Only what a request brought: enrolment images and signature references live under
              // images/subjects/ for as long as the subject is enrolled (erasure removes them).
              prefixMatch: [
                'images/verifications/'
                'crops/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: imageRetentionDays
                }
              }
            }
          }
        }
        {
          name: 'delete-old-reviews'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'reviews/'
              ]
            }
            actions: {
              baseBlob: {
                tierToCool: {
                  daysAfterModificationGreaterThan: 30
                }
                delete: {
                  daysAfterModificationGreaterThan: reviewRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

// The Functions host needs Blob Data Owner (leases, deployment package) and
// Queue Data Contributor (triggers and outputs) on its storage.
var blobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var queueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource appBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, blobDataOwnerRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, queueDataContributorRoleId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', queueDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The deploy pipeline writes only to the models container
// (containers[2] is 'models' in dataContainers above).
resource deployModels 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployPrincipalId)) {
  name: guid(account.id, deployPrincipalId, blobDataContributorRoleId, 'models')
  scope: containers[2]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: deployPrincipalId
    principalType: 'ServicePrincipal'
  }
}

module blobEndpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-blob'
  params: {
    name: 'pe-${name}-blob'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: account.id
    groupId: 'blob'
    dnsZoneId: blobDnsZoneId
  }
}

module queueEndpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-queue'
  params: {
    name: 'pe-${name}-queue'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: account.id
    groupId: 'queue'
    dnsZoneId: queueDnsZoneId
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output modelsContainer string = 'models'
output deploymentContainer string = deploymentContainer
