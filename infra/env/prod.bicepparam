// Production: CPU by default; set compute = 'gpu' (and gpuContainerImage,
// gpuContainerRegistryServer) to run the models on a serverless T4 GPU.
using '../main.bicep'

param environmentName = 'prod'
param location = 'swedencentral'
param compute = 'cpu'
param gpuContainerImage = readEnvironmentVariable('BIOAUTH_GPU_IMAGE', '')
param gpuContainerRegistryServer = readEnvironmentVariable('BIOAUTH_GPU_REGISTRY', '')
param imageRetentionDays = 30
param reviewRetentionDays = 730
param reviewWebhookUrl = ''
param rateLimitPerMinute = 120
param maximumInstanceCount = 40
param deployPrincipalId = readEnvironmentVariable('BIOAUTH_DEPLOY_PRINCIPAL_ID', '')
param tags = {
  owner: 'bioauth'
}
