// The one identity the app runs as. Role assignments are made next to each
// resource (storage, cosmos, keyvault, monitoring) with the narrowest scope.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
