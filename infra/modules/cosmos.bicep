// Cosmos DB for NoSQL, serverless, Entra ID only (keys are disabled), reached
// through a private endpoint.
param name string
param location string
param tags object

@description('Principal id of the app identity.')
param principalId string
param privateEndpointSubnetId string
param dnsZoneId string

@description('Log Analytics workspace for the audit log.')
param workspaceId string

var databaseName = 'bioauth'
// The containers the code uses; every one is partitioned by /id.
var containerNames = [
  'verifications'
  'subjects'
  'reviews'
  'credentials'
  'audit'
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    capabilities: [
      {
        name: 'EnableServerless'
      }
    ]
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    // One write region (serverless is single-region).
    enableMultipleWriteLocations: false
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    publicNetworkAccess: 'Disabled'
    isVirtualNetworkFilterEnabled: true
    virtualNetworkRules: []
    ipRules: []
    networkAclBypass: 'None'
    minimalTlsVersion: 'Tls12'
    backupPolicy: {
      type: 'Continuous'
      continuousModeProperties: {
        tier: 'Continuous7Days'
      }
    }
  }
}

resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: workspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [for container in containerNames: {
  parent: database
  name: container
  properties: {
    resource: {
      id: container
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
        version: 2
      }
    }
  }
}]

// Cosmos DB Built-in Data Contributor (data plane; read/write items, no
// account management).
resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = {
  parent: account
  name: guid(account.id, principalId, 'data-contributor')
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002'
    principalId: principalId
    scope: account.id
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-sql'
  params: {
    name: 'pe-${name}-sql'
    location: location
    tags: tags
    subnetId: privateEndpointSubnetId
    targetId: account.id
    groupId: 'Sql'
    dnsZoneId: dnsZoneId
  }
}

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = databaseName
