// Development environment: CPU (Flex Consumption), short retention.
using '../main.bicep'

param environmentName = 'dev'
param location = 'swedencentral'
param compute = 'cpu'
param imageRetentionDays = 7
param reviewRetentionDays = 180
param rateLimitPerMinute = 120
param maximumInstanceCount = 10
param templateKeyExpiry = '2028-12-31T00:00:00Z'
// Object id of the CI service principal (infra/README.md); read from the
// environment so the workflow can supply it without storing it here.
param deployPrincipalId = readEnvironmentVariable('BIOAUTH_DEPLOY_PRINCIPAL_ID', '')
param tags = {
  owner: 'bioauth'
}
