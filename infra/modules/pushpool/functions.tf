locals {
  code_zip = "${var.artifacts_dir}/code.zip"
  runtime  = "python3.13"
  api_url  = "${aws_apigatewayv2_api.http_api.api_endpoint}/api"

  common_env = {
    PUSHPOOL_STORE                   = "dynamodb://${aws_dynamodb_table.table.name}"
    PUSHPOOL_RUN_RETENTION_DAYS      = tostring(var.run_retention_days)
    PUSHPOOL_RUN_TOKEN_KEY_PARAMETER = local.stack_parameters.run_token_key
    PUSHPOOL_DISPATCH_QUEUE_URL      = aws_sqs_queue.dispatch_queue.url
    # Deliveries before the dead-letter queue: the last one crashes runs that still fail.
    PUSHPOOL_DISPATCH_MAX_RECEIVE_COUNT = tostring(var.dispatch_max_receive_count)
    POWERTOOLS_SERVICE_NAME             = "pushpool"
    # Lambda records its own traces either way; per-provider-call subsegments load the X-Ray SDK.
    POWERTOOLS_TRACE_DISABLED = var.provider_call_tracing == "on" ? "false" : "true"
  }
  family_queue_env = {
    PUSHPOOL_DISPATCH_QUEUE_URL_GCP   = var.enable_gcp ? aws_sqs_queue.dispatch_queue_gcp[0].url : ""
    PUSHPOOL_DISPATCH_QUEUE_URL_AZURE = var.enable_azure ? aws_sqs_queue.dispatch_queue_azure[0].url : ""
    PUSHPOOL_DISPATCH_QUEUE_URL_MODAL = var.enable_modal ? aws_sqs_queue.dispatch_queue_modal[0].url : ""
  }
  family_queue_arns = compact([
    var.enable_gcp ? aws_sqs_queue.dispatch_queue_gcp[0].arn : "",
    var.enable_azure ? aws_sqs_queue.dispatch_queue_azure[0].arn : "",
    var.enable_modal ? aws_sqs_queue.dispatch_queue_modal[0].arn : "",
  ])
  lambda_assume_role = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
  basic_execution_policies = [
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXrayWriteOnlyAccess",
  ]
}

# ------------------------------------------------------------------ layers

resource "aws_lambda_layer_version" "gcp_layer" {
  count                    = var.enable_gcp ? 1 : 0
  layer_name               = "${var.name}-gcp"
  description              = "google-cloud-run and google-auth for the Cloud Run dispatch function."
  filename                 = "${var.artifacts_dir}/gcp.zip"
  source_code_hash         = filebase64sha256("${var.artifacts_dir}/gcp.zip")
  compatible_runtimes      = [local.runtime]
  compatible_architectures = [var.lambda_architecture]
}

resource "aws_lambda_layer_version" "azure_layer" {
  count                    = var.enable_azure ? 1 : 0
  layer_name               = "${var.name}-azure"
  description              = "azure-mgmt-containerinstance and azure-identity for the ACI dispatch function."
  filename                 = "${var.artifacts_dir}/azure.zip"
  source_code_hash         = filebase64sha256("${var.artifacts_dir}/azure.zip")
  compatible_runtimes      = [local.runtime]
  compatible_architectures = [var.lambda_architecture]
}

resource "aws_lambda_layer_version" "modal_layer" {
  count                    = var.enable_modal ? 1 : 0
  layer_name               = "${var.name}-modal"
  description              = "The modal client for the Modal dispatch function."
  filename                 = "${var.artifacts_dir}/modal.zip"
  source_code_hash         = filebase64sha256("${var.artifacts_dir}/modal.zip")
  compatible_runtimes      = [local.runtime]
  compatible_architectures = [var.lambda_architecture]
}

# ------------------------------------------------------------------ API

resource "aws_lambda_function" "api_function" {
  function_name                  = "${var.name}-api"
  description                    = "pushpool HTTP API (Prefect-shaped routes under /api, the web UI at /)."
  role                           = aws_iam_role.api_function_role.arn
  handler                        = "handlers.api.handler"
  runtime                        = local.runtime
  architectures                  = [var.lambda_architecture]
  filename                       = local.code_zip
  source_code_hash               = filebase64sha256(local.code_zip)
  memory_size                    = 512
  timeout                        = 29
  reserved_concurrent_executions = 50
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  environment {
    variables = merge(local.common_env, local.family_queue_env, {
      PUSHPOOL_ADMIN_TOKEN_PARAMETER = local.stack_parameters.admin_token
    })
  }
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway; a dead-letter queue applies only to asynchronous invocations.
  #checkov:skip=CKV_AWS_117:Calls only public AWS endpoints; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

# ------------------------------------------------------------------ tick

resource "aws_lambda_function" "tick_function" {
  function_name                  = "${var.name}-tick"
  description                    = "Every minute, materialise schedules, mark late runs, send dispatch and poll messages, reap leases, repair counters."
  role                           = aws_iam_role.tick_function_role.arn
  handler                        = "handlers.tick.handler"
  runtime                        = local.runtime
  architectures                  = [var.lambda_architecture]
  filename                       = local.code_zip
  source_code_hash               = filebase64sha256(local.code_zip)
  memory_size                    = 512
  timeout                        = 55
  reserved_concurrent_executions = 1
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  dead_letter_config {
    target_arn = aws_sqs_queue.tick_dead_letter_queue.arn
  }
  environment {
    variables = merge(local.common_env, local.family_queue_env)
  }
  #checkov:skip=CKV_AWS_117:Calls only public AWS endpoints; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

resource "aws_scheduler_schedule" "tick_function_every_minute" {
  name_prefix         = "${var.name}-tick-"
  schedule_expression = "rate(1 minute)"
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = aws_lambda_function.tick_function.arn
    role_arn = aws_iam_role.tick_function_every_minute_role.arn
    retry_policy {
      maximum_retry_attempts = 0
    }
  }
  #checkov:skip=CKV_AWS_297:The schedule holds no data but a target ARN; an AWS-owned key suffices.
}

# ------------------------------------------------------------------ dispatch

resource "aws_lambda_function" "dispatch_function" {
  function_name    = "${var.name}-dispatch"
  description      = "Admit runs of ECS push and managed pools under pool/queue limits and submit them with RunTask."
  role             = aws_iam_role.dispatch_function_role.arn
  handler          = "handlers.dispatch.handler"
  runtime          = local.runtime
  architectures    = [var.lambda_architecture]
  filename         = local.code_zip
  source_code_hash = filebase64sha256(local.code_zip)
  memory_size      = 384 # as template.yaml: measured, docs/decisions.md
  timeout          = 300
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  environment {
    variables = merge(local.common_env, {
      PUSHPOOL_API_URL                    = local.api_url
      PUSHPOOL_MANAGED_CLUSTER            = aws_ecs_cluster.managed_cluster.arn
      PUSHPOOL_MANAGED_SUBNETS            = join(",", var.managed_subnet_ids)
      PUSHPOOL_MANAGED_SECURITY_GROUPS    = join(",", var.managed_security_group_ids)
      PUSHPOOL_MANAGED_EXECUTION_ROLE_ARN = aws_iam_role.managed_task_execution_role.arn
      PUSHPOOL_MANAGED_LOG_GROUP          = aws_cloudwatch_log_group.managed_task_log_group.name
    })
  }
  #checkov:skip=CKV_AWS_116:Invoked by an SQS event source; failed messages go to the queue's redrive dead-letter queue.
  #checkov:skip=CKV_AWS_117:Calls only public AWS endpoints; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the event source's maximum concurrency instead of reserving account capacity.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

resource "aws_lambda_event_source_mapping" "dispatch_function_queue" {
  event_source_arn        = aws_sqs_queue.dispatch_queue.arn
  function_name           = aws_lambda_function.dispatch_function.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.dispatch_max_concurrency
  }
}

resource "aws_lambda_function" "dispatch_gcp_function" {
  count            = var.enable_gcp ? 1 : 0
  function_name    = "${var.name}-dispatch-gcp"
  description      = "Admit and submit runs of Cloud Run pools; poll their executions."
  role             = aws_iam_role.dispatch_gcp_function_role[0].arn
  handler          = "handlers.dispatch.handler"
  runtime          = local.runtime
  architectures    = [var.lambda_architecture]
  filename         = local.code_zip
  source_code_hash = filebase64sha256(local.code_zip)
  layers           = [aws_lambda_layer_version.gcp_layer[0].arn]
  memory_size      = 512
  timeout          = 300
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  environment {
    variables = merge(local.common_env, {
      PUSHPOOL_API_URL                = local.api_url
      PUSHPOOL_DISPATCH_QUEUE_URL_GCP = aws_sqs_queue.dispatch_queue_gcp[0].url
      PUSHPOOL_GCP_CREDENTIALS_SECRET = aws_secretsmanager_secret.gcp_credentials_secret[0].arn
    })
  }
  #checkov:skip=CKV_AWS_116:Invoked by an SQS event source; failed messages go to the queue's redrive dead-letter queue.
  #checkov:skip=CKV_AWS_117:Calls Google's public API; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the event source's maximum concurrency instead of reserving account capacity.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

resource "aws_lambda_event_source_mapping" "dispatch_gcp_function_queue" {
  count                   = var.enable_gcp ? 1 : 0
  event_source_arn        = aws_sqs_queue.dispatch_queue_gcp[0].arn
  function_name           = aws_lambda_function.dispatch_gcp_function[0].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.dispatch_max_concurrency
  }
}

resource "aws_lambda_function" "dispatch_azure_function" {
  count            = var.enable_azure ? 1 : 0
  function_name    = "${var.name}-dispatch-azure"
  description      = "Admit and submit runs of Azure Container Instances pools; poll their container groups."
  role             = aws_iam_role.dispatch_azure_function_role[0].arn
  handler          = "handlers.dispatch.handler"
  runtime          = local.runtime
  architectures    = [var.lambda_architecture]
  filename         = local.code_zip
  source_code_hash = filebase64sha256(local.code_zip)
  layers           = [aws_lambda_layer_version.azure_layer[0].arn]
  memory_size      = 512
  timeout          = 300
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  environment {
    variables = merge(local.common_env, {
      PUSHPOOL_API_URL                  = local.api_url
      PUSHPOOL_DISPATCH_QUEUE_URL_AZURE = aws_sqs_queue.dispatch_queue_azure[0].url
      PUSHPOOL_AZURE_CREDENTIALS_SECRET = aws_secretsmanager_secret.azure_credentials_secret[0].arn
    })
  }
  #checkov:skip=CKV_AWS_116:Invoked by an SQS event source; failed messages go to the queue's redrive dead-letter queue.
  #checkov:skip=CKV_AWS_117:Calls Azure's public API; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the event source's maximum concurrency instead of reserving account capacity.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

resource "aws_lambda_event_source_mapping" "dispatch_azure_function_queue" {
  count                   = var.enable_azure ? 1 : 0
  event_source_arn        = aws_sqs_queue.dispatch_queue_azure[0].arn
  function_name           = aws_lambda_function.dispatch_azure_function[0].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.dispatch_max_concurrency
  }
}

resource "aws_lambda_function" "dispatch_modal_function" {
  count            = var.enable_modal ? 1 : 0
  function_name    = "${var.name}-dispatch-modal"
  description      = "Admit and submit runs of Modal pools; poll their function calls."
  role             = aws_iam_role.dispatch_modal_function_role[0].arn
  handler          = "handlers.dispatch.handler"
  runtime          = local.runtime
  architectures    = [var.lambda_architecture]
  filename         = local.code_zip
  source_code_hash = filebase64sha256(local.code_zip)
  layers           = [aws_lambda_layer_version.modal_layer[0].arn]
  memory_size      = 512
  timeout          = 300
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  environment {
    variables = merge(local.common_env, {
      PUSHPOOL_API_URL                  = local.api_url
      PUSHPOOL_DISPATCH_QUEUE_URL_MODAL = aws_sqs_queue.dispatch_queue_modal[0].url
      PUSHPOOL_MODAL_TOKEN_SECRET       = aws_secretsmanager_secret.modal_token_secret[0].arn
    })
  }
  #checkov:skip=CKV_AWS_116:Invoked by an SQS event source; failed messages go to the queue's redrive dead-letter queue.
  #checkov:skip=CKV_AWS_117:Calls Modal's public API; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the event source's maximum concurrency instead of reserving account capacity.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

resource "aws_lambda_event_source_mapping" "dispatch_modal_function_queue" {
  count                   = var.enable_modal ? 1 : 0
  event_source_arn        = aws_sqs_queue.dispatch_queue_modal[0].arn
  function_name           = aws_lambda_function.dispatch_modal_function[0].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.dispatch_max_concurrency
  }
}

# ------------------------------------------------------------------ ECS task events

resource "aws_lambda_function" "infra_events_function" {
  function_name    = "${var.name}-infra-events"
  description      = "Move runs on ECS Task State Change events of tasks pushpool started; re-dispatch when a slot frees."
  role             = aws_iam_role.infra_events_function_role.arn
  handler          = "handlers.infra_events.handler"
  runtime          = local.runtime
  architectures    = [var.lambda_architecture]
  filename         = local.code_zip
  source_code_hash = filebase64sha256(local.code_zip)
  memory_size      = 256 # as template.yaml: measured, docs/decisions.md
  timeout          = 30
  tracing_config {
    mode = "Active"
  }
  logging_config { # as template.yaml: drops START/END/REPORT, keeps INFO lines
    log_format            = "JSON"
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }
  dead_letter_config {
    target_arn = aws_sqs_queue.tick_dead_letter_queue.arn
  }
  environment {
    variables = local.common_env
  }
  #checkov:skip=CKV_AWS_117:Calls only public AWS endpoints; a VPC would add NAT cost and cold-start time for nothing.
  #checkov:skip=CKV_AWS_115:Event volume is bounded by the tasks pushpool starts; reserving account capacity buys nothing.
  #checkov:skip=CKV_AWS_173:The environment holds resource, parameter and secret names only, never secret values.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the user owns; artifacts are built reproducibly by scripts/build_lambdas.py.
}

resource "aws_cloudwatch_event_rule" "infra_events_function_ecs_task_state_change" {
  name_prefix = "${var.name}-ecs-task-state-"
  # The same pattern as template.yaml's (tests/deploy/test_event_pattern.py
  # checks both): only the changes that move a run, about 3 per task, not 9.
  event_pattern = file("${path.module}/ecs_task_events.json")
}

resource "aws_cloudwatch_event_target" "infra_events_function_ecs_task_state_change" {
  rule = aws_cloudwatch_event_rule.infra_events_function_ecs_task_state_change.name
  arn  = aws_lambda_function.infra_events_function.arn
  retry_policy {
    maximum_retry_attempts       = 10
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "infra_events_function_ecs_task_state_change_permission" {
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.infra_events_function.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.infra_events_function_ecs_task_state_change.arn
}
