resource "aws_apigatewayv2_api" "http_api" {
  name          = "${var.name}-api"
  protocol_type = "HTTP"
}

resource "aws_cloudwatch_log_group" "api_access_log_group" {
  name_prefix       = "/${var.name}/api-access-"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:CloudWatch Logs' default encryption; a customer-managed KMS key is the user's choice.
  #checkov:skip=CKV_AWS_338:Retention is the user's choice (log_retention_days); a year's minimum is not imposed.
}

resource "aws_apigatewayv2_stage" "http_api_api_gateway_default_stage" {
  api_id      = aws_apigatewayv2_api.http_api.id
  name        = "$default"
  auto_deploy = true
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access_log_group.arn
    format = jsonencode({
      requestId = "$context.requestId", ip = "$context.identity.sourceIp", method = "$context.httpMethod",
      path = "$context.path", status = "$context.status", latency = "$context.responseLatency"
    })
  }
  default_route_settings {
    throttling_burst_limit = 200
    throttling_rate_limit  = 100
  }
}

resource "aws_apigatewayv2_integration" "api_function" {
  api_id                 = aws_apigatewayv2_api.http_api.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.api_function.invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "api_function_api" {
  api_id    = aws_apigatewayv2_api.http_api.id
  route_key = "ANY /api/{proxy+}"
  target    = "integrations/${aws_apigatewayv2_integration.api_function.id}"
  #checkov:skip=CKV_AWS_309:pushpool authenticates every route but /api/health itself with scoped bearer tokens.
}

resource "aws_apigatewayv2_route" "api_function_ui" {
  api_id    = aws_apigatewayv2_api.http_api.id
  route_key = "GET /{proxy+}"
  target    = "integrations/${aws_apigatewayv2_integration.api_function.id}"
  #checkov:skip=CKV_AWS_309:Static web UI files; the UI calls the API with the user's token.
}

resource "aws_apigatewayv2_route" "api_function_ui_root" {
  api_id    = aws_apigatewayv2_api.http_api.id
  route_key = "GET /"
  target    = "integrations/${aws_apigatewayv2_integration.api_function.id}"
  #checkov:skip=CKV_AWS_309:Static web UI files; the UI calls the API with the user's token.
}

resource "aws_lambda_permission" "api_function_api_permission" {
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api_function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http_api.execution_arn}/*/*/api/*"
}

resource "aws_lambda_permission" "api_function_ui_permission" {
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api_function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http_api.execution_arn}/*/GET/*"
}

resource "aws_lambda_permission" "api_function_ui_root_permission" {
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api_function.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http_api.execution_arn}/*/GET/"
}
