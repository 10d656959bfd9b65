# The same outputs as template.yaml.

output "api_url" {
  description = "Base URL of the pushpool API (use it with `pushpool config set api-url`)."
  value       = "${aws_apigatewayv2_api.http_api.api_endpoint}/api"
}

output "admin_token_parameter" {
  description = "SSM SecureString parameter holding the admin token, created by the API's first call (aws ssm get-parameter --with-decryption --name ... --query Parameter.Value --output text)."
  value       = local.stack_parameters.admin_token
}

output "table_name" {
  description = "The DynamoDB table."
  value       = aws_dynamodb_table.table.name
}

output "dispatch_queue_url" {
  description = "The dispatch queue of ECS push and managed pools."
  value       = aws_sqs_queue.dispatch_queue.url
}

output "managed_cluster_arn" {
  description = "ECS cluster that runs `managed` pools."
  value       = aws_ecs_cluster.managed_cluster.arn
}
