# One role per function, least privilege: table actions on the table ARN only, ECS actions
# conditioned on the allowed clusters, iam:PassRole only for declared roles.

locals {
  # Read, else create, the stack's SecureString parameters (handlers/aws/parameters.py). The
  # account's aws/ssm key needs no kms statement: its key policy lets SSM use it for every
  # principal of the account.
  parameter_actions = ["ssm:GetParameter", "ssm:PutParameter"]
  allowed_clusters  = concat([aws_ecs_cluster.managed_cluster.arn], var.ecs_cluster_arns)
  passable_roles    = concat([aws_iam_role.managed_task_execution_role.arn], var.pass_role_arns)
}

resource "aws_iam_role" "api_function_role" {
  name_prefix         = "${var.name}-api-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "api_function_role" {
  role = aws_iam_role.api_function_role.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "StackParameters", Effect = "Allow", Action = local.parameter_actions, Resource = ["${local.parameter_arn}/admin-token", "${local.parameter_arn}/run-token-key"] },
      { Sid = "Dispatch", Effect = "Allow", Action = "sqs:SendMessage", Resource = concat([aws_sqs_queue.dispatch_queue.arn], local.family_queue_arns) },
      {
        Sid       = "FindTheLogStreamOfAnEcsRun", Effect = "Allow", Action = "ecs:DescribeTasks", Resource = "*",
        Condition = { ArnEquals = { "ecs:cluster" = local.allowed_clusters } }
      },
      { Sid = "ReadTheLogConfigurationOfATaskDefinition", Effect = "Allow", Action = "ecs:DescribeTaskDefinition", Resource = "*" },
      {
        Sid      = "ReadEcsRunLogs", Effect = "Allow", Action = "logs:GetLogEvents",
        Resource = ["${aws_cloudwatch_log_group.managed_task_log_group.arn}:*", "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:pushpool:*"]
      },
    ]
  })
  #checkov:skip=CKV_AWS_355:DescribeTaskDefinition accepts only "*" as resource; DescribeTasks is conditioned on allowed clusters.
}

resource "aws_iam_role" "tick_function_role" {
  name_prefix         = "${var.name}-tick-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "tick_function_role" {
  role = aws_iam_role.tick_function_role.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "Dispatch", Effect = "Allow", Action = "sqs:SendMessage", Resource = concat([aws_sqs_queue.dispatch_queue.arn, aws_sqs_queue.tick_dead_letter_queue.arn], local.family_queue_arns) },
    ]
  })
}

resource "aws_iam_role" "tick_function_every_minute_role" {
  name_prefix = "${var.name}-tick-schedule-"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "scheduler.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "tick_function_every_minute_role" {
  role = aws_iam_role.tick_function_every_minute_role.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "lambda:InvokeFunction", Resource = aws_lambda_function.tick_function.arn }]
  })
}

resource "aws_iam_role" "dispatch_function_role" {
  name_prefix         = "${var.name}-dispatch-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "dispatch_function_role" {
  role = aws_iam_role.dispatch_function_role.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "StackParameters", Effect = "Allow", Action = local.parameter_actions, Resource = "${local.parameter_arn}/run-token-key" },
      { Sid = "Queue", Effect = "Allow", Action = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], Resource = aws_sqs_queue.dispatch_queue.arn },
      {
        Sid       = "RunAndStopTasksOnAllowedClusters", Effect = "Allow",
        Action    = ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "ecs:ListTasks", "ecs:TagResource"], Resource = "*",
        Condition = { ArnEquals = { "ecs:cluster" = local.allowed_clusters } }
      },
      { Sid = "RegisterTaskDefinitionsOncePerContentHash", Effect = "Allow", Action = ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"], Resource = "*" },
      { Sid = "CreateTheDefaultTaskLogGroup", Effect = "Allow", Action = "logs:CreateLogGroup", Resource = "arn:${data.aws_partition.current.partition}:logs:*:${data.aws_caller_identity.current.account_id}:log-group:pushpool:*" },
      { Sid = "ResolveDefaultNetworkOfAVpc", Effect = "Allow", Action = ["ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"], Resource = "*" },
      {
        Sid       = "PassOnlyDeclaredRolesToEcs", Effect = "Allow", Action = "iam:PassRole", Resource = local.passable_roles,
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
    ]
  })
  #checkov:skip=CKV_AWS_290:RegisterTaskDefinition supports no resource-level permission; ECS write actions are conditioned on allowed clusters.
  #checkov:skip=CKV_AWS_355:RegisterTaskDefinition/DescribeTaskDefinition accept only "*" as resource.
}

resource "aws_iam_role" "dispatch_gcp_function_role" {
  count               = var.enable_gcp ? 1 : 0
  name_prefix         = "${var.name}-dispatch-gcp-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "dispatch_gcp_function_role" {
  count = var.enable_gcp ? 1 : 0
  role  = aws_iam_role.dispatch_gcp_function_role[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "StackParameters", Effect = "Allow", Action = local.parameter_actions, Resource = "${local.parameter_arn}/run-token-key" },
      { Sid = "Secrets", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = aws_secretsmanager_secret.gcp_credentials_secret[0].arn },
      { Sid = "Queue", Effect = "Allow", Action = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], Resource = aws_sqs_queue.dispatch_queue_gcp[0].arn },
    ]
  })
}

resource "aws_iam_role" "dispatch_azure_function_role" {
  count               = var.enable_azure ? 1 : 0
  name_prefix         = "${var.name}-dispatch-azure-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "dispatch_azure_function_role" {
  count = var.enable_azure ? 1 : 0
  role  = aws_iam_role.dispatch_azure_function_role[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "StackParameters", Effect = "Allow", Action = local.parameter_actions, Resource = "${local.parameter_arn}/run-token-key" },
      { Sid = "Secrets", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = aws_secretsmanager_secret.azure_credentials_secret[0].arn },
      { Sid = "Queue", Effect = "Allow", Action = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], Resource = aws_sqs_queue.dispatch_queue_azure[0].arn },
    ]
  })
}

resource "aws_iam_role" "dispatch_modal_function_role" {
  count               = var.enable_modal ? 1 : 0
  name_prefix         = "${var.name}-dispatch-modal-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "dispatch_modal_function_role" {
  count = var.enable_modal ? 1 : 0
  role  = aws_iam_role.dispatch_modal_function_role[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "StackParameters", Effect = "Allow", Action = local.parameter_actions, Resource = "${local.parameter_arn}/run-token-key" },
      { Sid = "Secrets", Effect = "Allow", Action = "secretsmanager:GetSecretValue", Resource = aws_secretsmanager_secret.modal_token_secret[0].arn },
      { Sid = "Queue", Effect = "Allow", Action = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"], Resource = aws_sqs_queue.dispatch_queue_modal[0].arn },
    ]
  })
}

resource "aws_iam_role" "infra_events_function_role" {
  name_prefix         = "${var.name}-infra-events-"
  assume_role_policy  = local.lambda_assume_role
  managed_policy_arns = local.basic_execution_policies
}

resource "aws_iam_role_policy" "infra_events_function_role" {
  role = aws_iam_role.infra_events_function_role.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "Table", Effect = "Allow", Action = local.table_index_actions, Resource = local.table_resources },
      { Sid = "Redispatch", Effect = "Allow", Action = "sqs:SendMessage", Resource = [aws_sqs_queue.dispatch_queue.arn, aws_sqs_queue.tick_dead_letter_queue.arn] },
    ]
  })
}
