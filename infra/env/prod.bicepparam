// Production: CPU by default. For the serverless T4 GPU set compute = 'gpu'
// and the repository variables BIOAUTH_GPU_REGISTRY (+ _RESOURCE_GROUP): the
// workflow builds infra/gpu/Dockerfile there and passes the image in.
using '../main.bicep'

param environmentName = 'prod'
param location = 'swedencentral'
param compute = 'cpu'
param gpuContainerImage = readEnvironmentVariable('BIOAUTH_GPU_IMAGE', '')
param gpuRegistryName = readEnvironmentVariable('BIOAUTH_GPU_REGISTRY', '')
param gpuRegistryResourceGroup = readEnvironmentVariable('BIOAUTH_GPU_REGISTRY_RESOURCE_GROUP', '')
param imageRetentionDays = 30
param reviewRetentionDays = 730
param reviewWebhookUrl = ''
param rateLimitPerMinute = 120
param maximumInstanceCount = 40
param deployPrincipalId = readEnvironmentVariable('BIOAUTH_DEPLOY_PRINCIPAL_ID', '')
param tags = {
  owner: 'bioauth'
}
