data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  table_index_actions = [
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
  ]
  table_resources = [aws_dynamodb_table.table.arn, "${aws_dynamodb_table.table.arn}/index/*"]
}

resource "aws_dynamodb_table" "table" {
  name         = "${var.name}-table"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  # Keys and indexes are core/store/dynamo/schema.py's table_definition (tests/deploy checks).
  dynamic "attribute" {
    for_each = ["pk", "sk", "act_k", "act_s", "due_s", "due_t", "runs_s", "runs_t", "sched_q", "sched_t"]
    content {
      name = attribute.value
      type = "S"
    }
  }
  global_secondary_index {
    name            = "scheduled"
    hash_key        = "sched_q"
    range_key       = "sched_t"
    projection_type = "ALL"
  }
  global_secondary_index {
    name            = "due"
    hash_key        = "due_s"
    range_key       = "due_t"
    projection_type = "KEYS_ONLY"
  }
  global_secondary_index {
    name            = "active"
    hash_key        = "act_s"
    range_key       = "act_k"
    projection_type = "ALL"
  }
  global_secondary_index {
    name            = "runs"
    hash_key        = "runs_s"
    range_key       = "runs_t"
    projection_type = "INCLUDE"
    non_key_attributes = ["pool_id", "queue_id", "dep_id"]
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
  #checkov:skip=CKV_AWS_119:SSE with the AWS-owned key; a customer-managed KMS key is the user's choice and adds cost per request.
}

# ------------------------------------------------------------------ secrets

# The admin token and the run-token signing key are SSM SecureString parameters that the
# functions create with a generated value on first use: the one mechanism template.yaml
# must use too, since CloudFormation cannot create a SecureString (docs/decisions.md).
# Neither value is in the Terraform state. `terraform destroy` leaves them (docs/aws.md).
locals {
  parameter_prefix = "/pushpool/${var.name}"
  parameter_arn    = "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${local.parameter_prefix}"
  stack_parameters = {
    admin_token   = "${local.parameter_prefix}/admin-token"
    run_token_key = "${local.parameter_prefix}/run-token-key"
  }
}

resource "aws_secretsmanager_secret" "gcp_credentials_secret" {
  count       = var.enable_gcp ? 1 : 0
  name_prefix = "${var.name}-gcp-credentials-"
  description = "Google service-account JSON for Cloud Run pools (put the key JSON here after deploying)."
  #checkov:skip=CKV_AWS_149:Encrypted with the account's aws/secretsmanager key; a customer-managed key is the user's choice.
  #checkov:skip=CKV2_AWS_57:Holds a credential issued by Google; rotate it in Google Cloud and update the value.
}

resource "aws_secretsmanager_secret" "azure_credentials_secret" {
  count       = var.enable_azure ? 1 : 0
  name_prefix = "${var.name}-azure-credentials-"
  description = "Azure service principal (tenant_id, client_id, client_secret) as JSON for ACI pools."
  #checkov:skip=CKV_AWS_149:Encrypted with the account's aws/secretsmanager key; a customer-managed key is the user's choice.
  #checkov:skip=CKV2_AWS_57:Holds a credential issued by Azure; rotate it in Azure and update the value.
}

resource "aws_secretsmanager_secret" "modal_token_secret" {
  count       = var.enable_modal ? 1 : 0
  name_prefix = "${var.name}-modal-token-"
  description = "Modal token (token_id, token_secret) as JSON for modal:push pools."
  #checkov:skip=CKV_AWS_149:Encrypted with the account's aws/secretsmanager key; a customer-managed key is the user's choice.
  #checkov:skip=CKV2_AWS_57:Holds a credential issued by Modal; rotate it in Modal and update the value.
}

# ------------------------------------------------------------------ queues

resource "aws_sqs_queue" "dispatch_dead_letter_queue" {
  name_prefix               = "${var.name}-dispatch-dlq-"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "dispatch_queue" {
  name_prefix                = "${var.name}-dispatch-"
  visibility_timeout_seconds = 360
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dispatch_dead_letter_queue.arn
    maxReceiveCount     = var.dispatch_max_receive_count
  })
}

resource "aws_sqs_queue" "dispatch_queue_gcp" {
  count                      = var.enable_gcp ? 1 : 0
  name_prefix                = "${var.name}-dispatch-gcp-"
  visibility_timeout_seconds = 360
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dispatch_dead_letter_queue.arn
    maxReceiveCount     = var.dispatch_max_receive_count
  })
}

resource "aws_sqs_queue" "dispatch_queue_azure" {
  count                      = var.enable_azure ? 1 : 0
  name_prefix                = "${var.name}-dispatch-azure-"
  visibility_timeout_seconds = 360
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dispatch_dead_letter_queue.arn
    maxReceiveCount     = var.dispatch_max_receive_count
  })
}

resource "aws_sqs_queue" "dispatch_queue_modal" {
  count                      = var.enable_modal ? 1 : 0
  name_prefix                = "${var.name}-dispatch-modal-"
  visibility_timeout_seconds = 360
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dispatch_dead_letter_queue.arn
    maxReceiveCount     = var.dispatch_max_receive_count
  })
}

resource "aws_sqs_queue" "tick_dead_letter_queue" {
  name_prefix               = "${var.name}-tick-dlq-"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

# ------------------------------------------------------------------ managed pools

resource "aws_ecs_cluster" "managed_cluster" {
  name = "${var.name}-managed"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "managed_cluster" {
  cluster_name       = aws_ecs_cluster.managed_cluster.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
}

resource "aws_iam_role" "managed_task_execution_role" {
  name_prefix = "${var.name}-task-exec-"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "ecs-tasks.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy_attachment" "managed_task_execution_role" {
  role       = aws_iam_role.managed_task_execution_role.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_cloudwatch_log_group" "managed_task_log_group" {
  name_prefix       = "/${var.name}/managed-tasks-"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:CloudWatch Logs' default encryption; a customer-managed KMS key is the user's choice.
  #checkov:skip=CKV_AWS_338:Retention is the user's choice (log_retention_days); a year's minimum is not imposed.
}
