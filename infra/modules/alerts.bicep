// Alert rules and the operations workbook over Application Insights.
// The app exports OpenTelemetry traces and metrics (functions/runtime/telemetry.py);
// metric names here are the ones it records:
//   bioauth.decisions                     counter   attributes: outcome, reason
//   bioauth.step.duration                 histogram (ms) attributes: step, outcome
//   bioauth.queue.depth                   gauge     attributes: queue
//   bioauth.queue.oldest_message_age      gauge (s) attributes: queue
//   bioauth.queue.poison                  gauge     attributes: queue (messages in <queue>-poison)
//   bioauth.requests.redriven             counter   attributes: found_by (first messages sent again after a crash)
param namePrefix string
param location string
param tags object
param appInsightsId string

@description('Email that receives alerts; empty: the action group has no receiver (wire your own).')
param alertEmail string = ''

@description('Oldest message age (seconds) in any step queue before an alert.')
param maxQueueAgeSeconds int = 300

@description('Share of 5xx answers (percent) over 15 minutes before an alert.')
param maxServerErrorPercent int = 2

@description('p95 of POST /v1/verifications (milliseconds) over 15 minutes before an alert.')
param maxP95LatencyMs int = 2000

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'bioauthops'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var rules = [
  {
    name: 'poison-messages'
    severity: 1
    description: 'A message failed every retry and sits in a poison queue: its verification ended failed.'
    query: 'customMetrics | where name == "bioauth.queue.poison" | extend queue = tostring(customDimensions.queue) | summarize value = max(valueMax) by queue'
    threshold: 0
  }
  {
    name: 'queue-oldest-message-age'
    severity: 2
    description: 'The oldest message of a step queue waits too long: pollers stalled or capacity short.'
    query: 'customMetrics | where name == "bioauth.queue.oldest_message_age" | extend queue = tostring(customDimensions.queue) | summarize value = max(valueMax) by queue'
    threshold: maxQueueAgeSeconds
  }
  {
    name: 'server-errors'
    severity: 1
    description: 'Share of HTTP answers that are 5xx.'
    query: 'requests | summarize total = count(), failed = countif(toint(resultCode) >= 500) | where total > 20 | extend value = 100.0 * failed / total'
    threshold: maxServerErrorPercent
  }
  {
    name: 'verification-latency-p95'
    severity: 2
    description: 'p95 of the verification POST (sync answers included).'
    query: 'requests | where name has "verifications" and name has "POST" | summarize value = percentile(duration, 95)'
    threshold: maxP95LatencyMs
  }
  {
    name: 'requests-redriven'
    severity: 2
    description: 'A verification was created but its first message was lost (its process died); the recovery sweep or a retry sent it again. Look for crashing instances.'
    query: 'customMetrics | where name == "bioauth.requests.redriven" | summarize value = sum(valueSum)'
    threshold: 0
  }
  {
    name: 'model-not-installed'
    severity: 0
    description: 'A step ran without its model: every request it saw failed with model_not_installed.'
    query: 'customMetrics | where name == "bioauth.decisions" | where tostring(customDimensions.reason) == "model_not_installed" | summarize value = sum(valueSum)'
    threshold: 0
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: '${namePrefix}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: '${namePrefix} ${rule.name}'
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'value'
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// One workbook: decisions by outcome and reason, step durations, queue depth and age, poison counts,
// HTTP answers and latency.
var workbookContent = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      content: {
        json: '## bioauth operations\nDecisions, step durations, queues and HTTP answers, from the app\'s OpenTelemetry export.'
      }
      name: 'title'
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        query: 'customMetrics | where name == "bioauth.decisions" | extend outcome = tostring(customDimensions.outcome), reason = tostring(customDimensions.reason) | summarize decisions = sum(valueSum) by outcome, reason | order by decisions desc'
        size: 0
        title: 'Decisions by outcome and reason'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'table'
      }
      name: 'decisions'
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        query: 'customMetrics | where name == "bioauth.step.duration" | extend step = tostring(customDimensions.step) | summarize mean_ms = sum(valueSum) / sum(valueCount), max_ms = max(valueMax) by step, bin(timestamp, 5m) | render timechart'
        size: 0
        title: 'Step durations (ms)'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'timechart'
      }
      name: 'steps'
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        query: 'customMetrics | where name in ("bioauth.queue.depth", "bioauth.queue.oldest_message_age", "bioauth.queue.poison") | extend queue = tostring(customDimensions.queue) | summarize value = max(valueMax) by name, queue, bin(timestamp, 5m) | render timechart'
        size: 0
        title: 'Queues: depth, oldest message age (s), poison'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'timechart'
      }
      name: 'queues'
    }
    {
      type: 3
      content: {
        version: 'KqlItem/1.0'
        query: 'requests | summarize answers = count(), p50_ms = percentile(duration, 50), p95_ms = percentile(duration, 95), server_errors = countif(toint(resultCode) >= 500) by name | order by answers desc'
        size: 0
        title: 'HTTP routes'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: 'table'
      }
      name: 'http'
    }
  ]
  fallbackResourceIds: [
    appInsightsId
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix, 'operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: '${namePrefix} operations'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: string(workbookContent)
  }
}

output actionGroupId string = actionGroup.id
output workbookId string = workbook.id
