// The same function app as a container on Azure Container Apps
// (kind 'functionapp'), on a serverless T4 GPU workload profile so that
// onnxruntime-gpu runs the models on CUDA. Flex Consumption has no GPU.
// The Functions host on Container Apps adds the scale rules for the queue
// triggers itself. The environment is closed to the internet: Front Door
// reaches it over Private Link (approved once, see infra/README.md).
param environmentName string
param appName string
param location string
param tags object
param identityId string

@description('App settings, [{ name, value }], from main.bicep; become environment variables.')
param appSettings array

@description('Function app image with onnxruntime-gpu; empty = the Functions Python base image as a placeholder until the first image is pushed.')
param image string = ''

@description('Registry of the image, pulled with the app identity (AcrPull); empty = public image.')
param registryServer string = ''
param subnetId string
param workspaceId string

@description('Largest number of GPU replicas.')
@minValue(1)
param maxReplicas int = 4

var gpuProfileName = 'gpu-t4'
var appImage = empty(image) ? 'mcr.microsoft.com/azure-functions/python:4-python3.11' : image
var registries = empty(registryServer) ? [] : [
  {
    server: registryServer
    identity: identityId
  }
]

resource environment 'Microsoft.App/managedEnvironments@2025-02-02-preview' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    // Logs go to Log Analytics through diagnostic settings (no workspace key).
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    vnetConfiguration: {
      infrastructureSubnetId: subnetId
      internal: false
    }
    publicNetworkAccess: 'Disabled'
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
      {
        name: gpuProfileName
        workloadProfileType: 'Consumption-GPU-NC8as-T4'
      }
    ]
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: environment
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

resource app 'Microsoft.App/containerApps@2025-02-02-preview' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: gpuProfileName
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 80
        transport: 'auto'
        allowInsecure: false
      }
      registries: registries
    }
    template: {
      containers: [
        {
          name: 'bioauth'
          image: appImage
          // One whole NC8as-T4 replica: 8 vCPU, 56 GiB, one T4 GPU.
          resources: {
            cpu: 8
            memory: '56Gi'
          }
          env: concat(appSettings, [
            {
              name: 'FUNCTIONS_WORKER_RUNTIME'
              value: 'python'
            }
          ])
        }
      ]
      scale: {
        minReplicas: 0
        maxReplicas: maxReplicas
      }
    }
  }
}

output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output environmentId string = environment.id
