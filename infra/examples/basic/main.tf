# A root module deploying pushpool into the current AWS account and region.
#   python scripts/build_lambdas.py            # from the repository root
#   cd infra/examples/basic && terraform init && terraform apply

terraform {
  required_version = ">= 1.5"
}

provider "aws" {}

variable "managed_subnet_ids" {
  description = "Subnets for managed pools (optional)."
  type        = list(string)
  default     = []
}

variable "managed_security_group_ids" {
  description = "Security groups for managed pools (optional)."
  type        = list(string)
  default     = []
}

module "pushpool" {
  source                     = "../../modules/pushpool"
  artifacts_dir              = "${path.root}/../../../build/lambda"
  managed_subnet_ids         = var.managed_subnet_ids
  managed_security_group_ids = var.managed_security_group_ids
}

output "api_url" {
  value = module.pushpool.api_url
}

output "admin_token_parameter" {
  value = module.pushpool.admin_token_parameter
}
