// Azure Front Door Premium: the public entry for the API and the review
// console, with the WAF in front of both. Origins and routes are added in
// frontdoor-routes.bicep once the app exists (the app needs this profile's
// id for its X-Azure-FDID check first).
param profileName string
param endpointName string
param wafPolicyName string
param rateLimitPerMinute int

@description('Public egress addresses (CIDR) of sites whose kiosks share one NAT; they get siteRateLimitPerMinute instead.')
param siteAddresses array = []

@description('Requests a minute from one site address: about 60 per kiosk there (one poll a second).')
param siteRateLimitPerMinute int = 1200
param tags object

@description('Log Analytics workspace for access and WAF logs.')
param workspaceId string

resource profile 'Microsoft.Cdn/profiles@2024-09-01' = {
  name: profileName
  location: 'global'
  tags: tags
  // Premium: managed WAF rule sets, bot protection and Private Link origins.
  sku: {
    name: 'Premium_AzureFrontDoor'
  }
  properties: {
    originResponseTimeoutSeconds: 60
  }
}

// Access, health probe and WAF logs: what was blocked and why.
resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: profile
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-09-01' = {
  parent: profile
  name: endpointName
  location: 'global'
  tags: tags
  properties: {
    enabledState: 'Enabled'
  }
}

var sites = empty(siteAddresses) ? [
  '192.0.2.0/32'
] : siteAddresses

// The API's path, which every rate limit rule matches.
var apiPath = {
  matchVariable: 'RequestUri'
  operator: 'Contains'
  negateCondition: false
  matchValue: [
    '/api/'
  ]
  transforms: [
    'Lowercase'
  ]
}

resource waf 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2024-02-01' = {
  name: wafPolicyName
  location: 'Global'
  tags: tags
  sku: {
    name: 'Premium_AzureFrontDoor'
  }
  properties: {
    policySettings: {
      enabledState: 'Enabled'
      mode: 'Prevention'
      requestBodyCheck: 'Enabled'
      customBlockResponseStatusCode: 403
    }
    customRules: {
      // Per client IP (socket address) on the API. Kiosks behind one NAT share an address and the WAF
      // cannot count per header, so listed site addresses get their own, higher limit, and the app
      // limits each key within it (BIOAUTH_RATE_LIMIT_PER_MINUTE). Without sites, the site rule is off and
      // names only a documentation address (192.0.2.0/32, never routed), so the per-IP rule covers all.
      rules: [
        {
          name: 'RateLimitPerSiteAddress'
          priority: 90
          enabledState: empty(siteAddresses) ? 'Disabled' : 'Enabled'
          ruleType: 'RateLimitRule'
          rateLimitDurationInMinutes: 1
          rateLimitThreshold: siteRateLimitPerMinute
          groupBy: [
            {
              variableName: 'SocketAddr'
            }
          ]
          matchConditions: [
            {
              matchVariable: 'SocketAddr'
              operator: 'IPMatch'
              negateCondition: false
              matchValue: sites
            }
            apiPath
          ]
          action: 'Block'
        }
        {
          name: 'RateLimitPerClientIp'
          priority: 100
          enabledState: 'Enabled'
          ruleType: 'RateLimitRule'
          rateLimitDurationInMinutes: 1
          rateLimitThreshold: rateLimitPerMinute
          groupBy: [
            {
              variableName: 'SocketAddr'
            }
          ]
          matchConditions: [
            {
              matchVariable: 'SocketAddr'
              operator: 'IPMatch'
              negateCondition: true
              matchValue: sites
            }
            apiPath
          ]
          action: 'Block'
        }
      ]
    }
    managedRules: {
      managedRuleSets: [
        {
          ruleSetType: 'Microsoft_DefaultRuleSet'
          ruleSetVersion: '2.1'
          ruleSetAction: 'Block'
        }
        {
          ruleSetType: 'Microsoft_BotManagerRuleSet'
          ruleSetVersion: '1.1'
        }
      ]
    }
  }
}

resource securityPolicy 'Microsoft.Cdn/profiles/securityPolicies@2024-09-01' = {
  parent: profile
  name: 'waf'
  properties: {
    parameters: {
      type: 'WebApplicationFirewall'
      wafPolicy: {
        id: waf.id
      }
      associations: [
        {
          domains: [
            {
              id: endpoint.id
            }
          ]
          patternsToMatch: [
            '/*'
          ]
        }
      ]
    }
  }
}

output profileName string = profile.name
output endpointName string = endpoint.name
output endpointHostName string = endpoint.properties.hostName
// Not a secret: the value Front Door puts in X-Azure-FDID.
output frontDoorId string = profile.properties.frontDoorId
