# Alarms and a dashboard, as template.yaml declares them.  Metrics in the
# pushpool namespace are EMF lines the functions print
# (handlers/aws/observability.py); dimensions service=pushpool, function=<role>.

locals {
  alarm_actions = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
  function_errors = {
    api      = aws_lambda_function.api_function.function_name
    tick     = aws_lambda_function.tick_function.function_name
    dispatch = aws_lambda_function.dispatch_function.function_name
    events   = aws_lambda_function.infra_events_function.function_name
  }
}

resource "aws_cloudwatch_metric_alarm" "dispatch_dead_letter_alarm" {
  alarm_name          = "${var.name}-dispatch-dead-letters"
  alarm_description   = "Dispatch messages reached the dead-letter queue (their runs crashed after every retry); read the queue and the dispatch function's log."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dispatch_dead_letter_queue.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "handler_errors_alarm" {
  alarm_name          = "${var.name}-handler-errors"
  alarm_description   = "A pushpool function failed (an unhandled error, a timeout); its log has the traceback."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions

  dynamic "metric_query" {
    for_each = local.function_errors
    content {
      id          = metric_query.key
      return_data = false
      metric {
        namespace   = "AWS/Lambda"
        metric_name = "Errors"
        dimensions  = { FunctionName = metric_query.value }
        period      = 300
        stat        = "Sum"
      }
    }
  }

  metric_query {
    id          = "errors"
    label       = "Function errors"
    expression  = "api + tick + dispatch + events"
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "runs_crashed_alarm" {
  alarm_name          = "${var.name}-runs-crashed"
  alarm_description   = "ECS ended runs CRASHED (failed to start, OOM-killed, vanished); the runs' state messages say why."
  namespace           = "pushpool"
  metric_name         = "RunsCrashedByInfrastructure"
  dimensions          = { service = "pushpool", function = "infra_events" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dispatch_latency_alarm" {
  alarm_name          = "${var.name}-dispatch-latency"
  alarm_description   = "Runs reach their infrastructure late (p99 of scheduled time to submission); look for throttling, a full DLQ or a stuck tick."
  namespace           = "pushpool"
  metric_name         = "DispatchLatency"
  dimensions          = { service = "pushpool", function = "dispatch" }
  extended_statistic  = "p99"
  unit                = "Milliseconds"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.dispatch_latency_p99_alarm_seconds * 1000
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "tick_not_running_alarm" {
  alarm_name          = "${var.name}-tick-not-running"
  alarm_description   = "The per-minute tick has not completed for 10 minutes; schedules, Late marks, reaping and counter repair are stopped."
  namespace           = "pushpool"
  metric_name         = "TickCompleted"
  dimensions          = { service = "pushpool", function = "tick" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
}

resource "aws_cloudwatch_dashboard" "dashboard" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Runs", region = data.aws_region.current.name, stat = "Sum", period = 60, view = "timeSeries"
          metrics = [
            ["pushpool", "RunsAdmitted", "service", "pushpool", "function", "dispatch"],
            [".", "RunsSubmitted", ".", ".", ".", "."],
            [".", "RunsCrashed", ".", ".", ".", "."],
            [".", "ClaimConflicts", ".", ".", ".", "."],
            [".", "RunsCrashedByInfrastructure", ".", ".", "function", "infra_events"],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Due to submit latency (ms)", region = data.aws_region.current.name, period = 60, view = "timeSeries"
          metrics = [
            ["pushpool", "DispatchLatency", "service", "pushpool", "function", "dispatch", { stat = "p50" }],
            ["...", { stat = "p99" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "Provider errors and dead letters", region = data.aws_region.current.name, stat = "Sum", period = 300, view = "timeSeries"
          metrics = [
            ["pushpool", "ProviderErrors", "service", "pushpool", "function", "dispatch", "ErrorType", "retryable"],
            ["...", "terminal"],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dispatch_dead_letter_queue.name, { stat = "Maximum" }],
          ]
        }
      },
      {
        type = "alarm", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "Alarms"
          alarms = [
            aws_cloudwatch_metric_alarm.dispatch_dead_letter_alarm.arn,
            aws_cloudwatch_metric_alarm.handler_errors_alarm.arn,
            aws_cloudwatch_metric_alarm.runs_crashed_alarm.arn,
            aws_cloudwatch_metric_alarm.dispatch_latency_alarm.arn,
            aws_cloudwatch_metric_alarm.tick_not_running_alarm.arn,
          ]
        }
      },
    ]
  })
}
