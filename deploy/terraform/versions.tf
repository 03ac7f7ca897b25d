# The GCP side of the Toast data platform for one environment (dev, staging or prod).
#
#   terraform init -backend-config="bucket=<state bucket>" -backend-config="prefix=toast/<env>"
#   terraform apply -var-file=env/<env>.tfvars
#
# State holds the generated Cloud SQL password: keep the state bucket private to the people
# who run Terraform (deploy/README.md, step 1).

terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6, < 4.0"
    }
  }

  # Bucket and prefix are given at `terraform init`, so each environment has its own state.
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region
}
