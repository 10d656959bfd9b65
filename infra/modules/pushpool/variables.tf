# Each variable mirrors a parameter of template.yaml (ManagedSubnetIds -> managed_subnet_ids, ...);
# tests/deploy/test_terraform.py holds the two lists to each other.

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "pushpool"
}

variable "artifacts_dir" {
  description = "Folder holding code.zip and the gcp/azure/modal layer zips built by scripts/build_lambdas.py."
  type        = string
}

variable "managed_subnet_ids" {
  description = "Subnets for tasks of `managed` pools (awsvpc). Empty disables managed pools."
  type        = list(string)
  default     = []
}

variable "managed_security_group_ids" {
  description = "Security groups for tasks of `managed` pools."
  type        = list(string)
  default     = []
}

variable "ecs_cluster_arns" {
  description = "ARNs of your own ECS clusters that ecs:push pools may run tasks on (the managed cluster is always allowed)."
  type        = list(string)
  default     = []
}

variable "pass_role_arns" {
  description = "Task and execution roles pools may declare; the dispatcher may pass only these (and the managed execution role) to ECS."
  type        = list(string)
  default     = []
}

variable "enable_gcp" {
  description = "Deploy the Cloud Run dispatch function, its queue and the GCP credentials secret."
  type        = bool
  default     = false
}

variable "enable_azure" {
  description = "Deploy the Azure Container Instances dispatch function, its queue and the Azure credentials secret."
  type        = bool
  default     = false
}

variable "enable_modal" {
  description = "Deploy the Modal dispatch function, its queue and the Modal token secret."
  type        = bool
  default     = false
}

variable "dispatch_max_concurrency" {
  description = "Most concurrent dispatch invocations per queue (SQS event source maximum concurrency)."
  type        = number
  default     = 10
  validation {
    condition     = var.dispatch_max_concurrency >= 2 && var.dispatch_max_concurrency <= 1000
    error_message = "dispatch_max_concurrency must be between 2 and 1000."
  }
}

variable "dispatch_max_receive_count" {
  description = "Deliveries of a dispatch message before it moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "run_retention_days" {
  description = "Days finished flow runs are kept before DynamoDB's TTL removes them."
  type        = number
  default     = 30
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps function, API and managed-task logs."
  type        = number
  default     = 30
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify (empty - the alarms only show on the dashboard)."
  type        = string
  default     = ""
}

variable "dispatch_latency_p99_alarm_seconds" {
  description = "The due-to-submit latency p99 (seconds) above which the latency alarm fires."
  type        = number
  default     = 60
  validation {
    condition     = var.dispatch_latency_p99_alarm_seconds >= 1
    error_message = "dispatch_latency_p99_alarm_seconds must be at least 1."
  }
}

variable "provider_call_tracing" {
  description = "X-Ray subsegments for each provider call (submit, status, cancel). \"on\" loads the X-Ray SDK in every function's cold start (docs/performance.md, \"Cold start\"); Lambda's own traces are recorded either way."
  type        = string
  default     = "off"
  validation {
    condition     = contains(["on", "off"], var.provider_call_tracing)
    error_message = "provider_call_tracing must be on or off."
  }
}

variable "lambda_architecture" {
  description = "CPU of every function and layer; build the artifacts for the same one (scripts/build_lambdas.py --arch). arm64 costs 20% less per GB-second."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}
