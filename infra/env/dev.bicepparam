// Development environment: CPU (Flex Consumption), short retention.
using '../main.bicep'

param environmentName = 'dev'
param location = 'swedencentral'
param compute = 'cpu'
param imageRetentionDays = 7
param reviewRetentionDays = 180
param rateLimitPerMinute = 120
param maximumInstanceCount = 10
// Object id of the CI service principal (infra/README.md); read from the
// environment so the workflow can supply it without storing it here.
param deployPrincipalId = readEnvironmentVariable('BIOAUTH_DEPLOY_PRINCIPAL_ID', '')
param tags = {
  owner: 'bioauth'
}
