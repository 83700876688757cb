// Front Door origins and routes:
//   /api/*      -> the function app, never cached
//   /console/*  -> the review console's static files, cached (the CDN part)
// The console origin (and the API origin in the gpu option) is reached over
// Private Link; each such connection is approved once on the target
// (see infra/README.md).
param profileName string
param endpointName string
param location string

@description('Host name of the API origin (function app or container app).')
param apiHostName string

@description('Container Apps environment id for a Private Link API origin; empty = public origin locked by access restriction (Flex Consumption).')
param apiPrivateLinkId string = ''
param consoleHostName string
param consoleStorageId string

resource profile 'Microsoft.Cdn/profiles@2024-09-01' existing = {
  name: profileName
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-09-01' existing = {
  parent: profile
  name: endpointName
}

var apiPrivateLink = empty(apiPrivateLinkId) ? null : {
  privateLink: {
    id: apiPrivateLinkId
  }
  groupId: 'managedEnvironments'
  privateLinkLocation: location
  requestMessage: 'Front Door to the bioauth API'
}

resource apiGroup 'Microsoft.Cdn/profiles/originGroups@2024-09-01' = {
  parent: profile
  name: 'api'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    sessionAffinityState: 'Disabled'
  }
}

resource apiOrigin 'Microsoft.Cdn/profiles/originGroups/origins@2024-09-01' = {
  parent: apiGroup
  name: 'function-app'
  properties: {
    hostName: apiHostName
    originHostHeader: apiHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
    sharedPrivateLinkResource: apiPrivateLink
  }
}

resource consoleGroup 'Microsoft.Cdn/profiles/originGroups@2024-09-01' = {
  parent: profile
  name: 'console'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    sessionAffinityState: 'Disabled'
  }
}

resource consoleOrigin 'Microsoft.Cdn/profiles/originGroups/origins@2024-09-01' = {
  parent: consoleGroup
  name: 'static-website'
  properties: {
    hostName: consoleHostName
    originHostHeader: consoleHostName
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
    sharedPrivateLinkResource: {
      privateLink: {
        id: consoleStorageId
      }
      groupId: 'web'
      privateLinkLocation: location
      requestMessage: 'Front Door to the bioauth review console'
    }
  }
}

// The Functions key is a transport key between Front Door and the app: the API route runs this rule
// set, whose one rule (written by the deploy workflow, as templates hold no secrets) sets
// x-functions-key on every API request, overwriting whatever a client sent. Devices, operators and
// reviewers present only their own credentials (Authorization: Bearer), checked by the app.
resource apiTransport 'Microsoft.Cdn/profiles/ruleSets@2024-09-01' = {
  parent: profile
  name: 'apiTransport'
}

resource apiRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-09-01' = {
  parent: endpoint
  name: 'api'
  properties: {
    originGroup: {
      id: apiGroup.id
    }
    patternsToMatch: [
      '/api/*'
    ]
    ruleSets: [
      {
        id: apiTransport.id
      }
    ]
    supportedProtocols: [
      'Http'
      'Https'
    ]
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
  dependsOn: [
    apiOrigin
  ]
}

resource consoleRoute 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-09-01' = {
  parent: endpoint
  name: 'console'
  properties: {
    originGroup: {
      id: consoleGroup.id
    }
    patternsToMatch: [
      '/console/*'
    ]
    supportedProtocols: [
      'Http'
      'Https'
    ]
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
    cacheConfiguration: {
      queryStringCachingBehavior: 'IgnoreQueryString'
      compressionSettings: {
        isCompressionEnabled: true
        contentTypesToCompress: [
          'text/html'
          'text/css'
          'application/javascript'
          'application/json'
          'image/svg+xml'
        ]
      }
    }
  }
  dependsOn: [
    consoleOrigin
  ]
}
