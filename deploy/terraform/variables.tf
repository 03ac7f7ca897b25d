# Inputs of one environment. Every variable is set (or left at its default) in
# env/<environment>.tfvars; tests/test_deploy.py checks each has a description.

# ---------------------------------------------------------------------------- project

variable "project_id" {
  description = "GCP project that holds this environment (one project per environment is simplest to reason about)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "environment" {
  description = "Environment name, used in resource names and labels: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "Region of the bucket, Cloud SQL, Artifact Registry and the GKE cluster (e.g. us-east1, close to Toast's US servers)."
  type        = string
  default     = "us-east1"
}

variable "bigquery_location" {
  description = "BigQuery location of the datasets (US multi-region or a region). Becomes TOAST_BQ_LOCATION. Load jobs read the lake bucket (in `region`), so the bucket must be in this location: US with a us-* region, EU with a europe-* region, or the same region."
  type        = string
  default     = "US"
}

# ---------------------------------------------------------------------------- lake (GCS)

variable "lake_bucket_name" {
  description = "Name of the lake bucket; empty means <project_id>-toast-lake. Bucket names are global: pick another if taken."
  type        = string
  default     = ""
}

variable "lake_prefix" {
  description = "Prefix inside the lake bucket under which landed files live (TOAST_LAKE_URL = gs://<bucket>/<prefix>); the BigQuery load files go to <prefix>/_loads/."
  type        = string
  default     = "toast"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$", var.lake_prefix))
    error_message = "lake_prefix must be a non-empty folder path such as toast or toast/prod: no leading or trailing slash, no '.' or '..' parts."
  }
}

variable "lake_nearline_after_days" {
  description = "Days after landing when a file moves to Nearline storage (dbt and re-loads read recent dates; older ones rarely)."
  type        = number
  default     = 30
}

variable "lake_coldline_after_days" {
  description = "Days after landing when a file moves to Coldline storage (kept for audits and full rebuilds)."
  type        = number
  default     = 365
}

variable "lake_noncurrent_retention_days" {
  description = "Days an overwritten version of a landed file (a corrected re-delivery) is kept before it is deleted."
  type        = number
  default     = 90
}

variable "compute_log_retention_days" {
  description = "Days the stdout/stderr of Dagster steps are kept in the compute log bucket."
  type        = number
  default     = 30
}

# ---------------------------------------------------------------------------- warehouse (BigQuery)

variable "raw_dataset_id" {
  description = "Dataset of the raw tables (TOAST_BQ_RAW_DATASET); the dbt sources read it. Change only to run two platforms in one project."
  type        = string
  default     = "toast_raw"
}

variable "raw_partition_expiration_days" {
  description = "Days a raw table partition (one business date) is kept; null keeps every date. The lake keeps the files either way."
  type        = number
  default     = null
}

variable "quality_partition_expiration_days" {
  description = "Days a partition of the quality tables (weekly report, findings) is kept; null keeps every date."
  type        = number
  default     = 400
}

variable "duckdb_memory_limit" {
  description = "TOAST_DUCKDB_MEMORY_LIMIT: DuckDB's memory while a run pod parses its files before the BigQuery load jobs. Set, because DuckDB's default follows the node's cores (128MB a thread) and passes the run pods' 2 GiB request on nodes of more than 16 cores."
  type        = string
  default     = "1GB"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?\\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", var.duckdb_memory_limit))
    error_message = "duckdb_memory_limit is a size such as 1GB or 1536MiB."
  }
}

variable "reader_members" {
  description = "IAM members (e.g. group:analysts@example.com) who may query the marts, reference and quality datasets."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------- Toast SFTP

variable "sftp_host" {
  description = "Toast SFTP export host, from Toast's export setup (TOAST_SFTP_HOST)."
  type        = string
}

variable "sftp_port" {
  description = "Toast SFTP port (TOAST_SFTP_PORT)."
  type        = number
  default     = 22
}

variable "sftp_username" {
  description = "The restaurant group's export login (TOAST_SFTP_USERNAME)."
  type        = string
}

variable "sftp_root" {
  description = "Folder on the SFTP server holding the <export_id> folders (TOAST_SFTP_ROOT)."
  type        = string
  default     = "/"
}

variable "export_ids" {
  description = "Location export folders to process (TOAST_EXPORT_IDS); empty processes every numeric folder the login sees."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.export_ids : can(regex("^[0-9]+$", id))])
    error_message = "export_ids are Toast location folder names: digits only."
  }
}

variable "first_business_date" {
  description = "First daily partition, YYYY-MM-DD (TOAST_START_DATE): the oldest business date you will backfill."
  type        = string
  default     = "2024-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.first_business_date))
    error_message = "first_business_date must look like 2024-01-01."
  }
}

# ---------------------------------------------------------------------------- Dagster instance (Cloud SQL)

variable "network" {
  description = "Self link or id of the VPC the GKE cluster (or VM) runs in; Cloud SQL gets a private IP there and no public one."
  type        = string
}

variable "create_private_service_access" {
  description = "Reserve a range and peer the VPC with Google services (needed once per VPC for private Cloud SQL). Set false if the VPC already has it."
  type        = bool
  default     = true
}

variable "cloudsql_tier" {
  description = "Cloud SQL machine tier for Dagster's Postgres (db-f1-micro for dev; db-custom-2-7680 carries a busy production instance)."
  type        = string
  default     = "db-custom-1-3840"
}

variable "cloudsql_high_availability" {
  description = "REGIONAL (standby in another zone) instead of ZONAL Cloud SQL. Recommended for prod."
  type        = bool
  default     = false
}

variable "cloudsql_disk_gb" {
  description = "Initial Cloud SQL disk size in GB (it grows automatically)."
  type        = number
  default     = 20
}

variable "cloudsql_backup_count" {
  description = "Number of daily automated Cloud SQL backups kept."
  type        = number
  default     = 14
}

variable "cloudsql_pitr_days" {
  description = "Days of transaction logs kept for point-in-time recovery (1-7)."
  type        = number
  default     = 7

  validation {
    condition     = var.cloudsql_pitr_days >= 1 && var.cloudsql_pitr_days <= 7
    error_message = "cloudsql_pitr_days must be between 1 and 7."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the Cloud SQL instance and the lake bucket's contents from Terraform. Keep true outside dev."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------- Kubernetes and the UI

variable "k8s_namespace" {
  description = "Kubernetes namespace of the Dagster Helm release; Workload Identity binds its service accounts to the GCP ones."
  type        = string
  default     = "dagster"
}

variable "workload_identity" {
  description = "Bind the Kubernetes service accounts of deploy/helm/values.yaml to the GCP service accounts (GKE with Workload Identity)."
  type        = bool
  default     = true
}

variable "ui_domain" {
  description = "Host name of the Dagster UI behind the HTTPS load balancer and Identity-Aware Proxy (e.g. dagster.example.com); empty skips the certificate."
  type        = string
  default     = ""
}

variable "ui_members" {
  description = "IAM members (users or groups) Identity-Aware Proxy lets through to the Dagster UI. Nobody else reaches it."
  type        = list(string)
  default     = []
}

variable "image_pullers" {
  description = "IAM members that pull the platform image (the GKE node service account, or the VM's service account for docker compose)."
  type        = list(string)
  default     = []
}

variable "image_pushers" {
  description = "IAM members that push the platform image (the CI service account)."
  type        = list(string)
  default     = []
}
