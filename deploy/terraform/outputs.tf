# What the next steps need (deploy/README.md): names for the secrets and images, the settings
# the platform reads, and an overlay for the Helm values.

locals {
  # What the code reads (toast_assets/settings.py): the Toast login, the GCS lake and the
  # BigQuery warehouse. dbt's target follows TOAST_WAREHOUSE, so TOAST_DBT_TARGET is not set.
  # No credentials: on GKE Workload Identity, on a VM its service account (TOAST_GCP_KEYFILE
  # stays unset and the code uses Application Default Credentials).
  platform_settings = {
    TOAST_SFTP_HOST           = var.sftp_host
    TOAST_SFTP_PORT           = tostring(var.sftp_port)
    TOAST_SFTP_USERNAME       = var.sftp_username
    TOAST_SFTP_ROOT           = var.sftp_root
    TOAST_EXPORT_IDS          = join(",", var.export_ids)
    TOAST_START_DATE          = var.first_business_date
    TOAST_LAKE_URL            = local.lake_url
    TOAST_WAREHOUSE           = "bigquery"
    TOAST_GCP_PROJECT         = var.project_id
    TOAST_BQ_RAW_DATASET      = var.raw_dataset_id
    TOAST_BQ_LOCATION         = var.bigquery_location
    TOAST_DUCKDB_MEMORY_LIMIT = var.duckdb_memory_limit # DuckDB's default follows the node's cores, not the pods' memory
  }
  toast_settings = merge(
    local.platform_settings,
    # Links in alerts point at the UI behind IAP.
    { for domain in compact([var.ui_domain]) : "TOAST_DAGSTER_URL" => "https://${domain}" },
  )
  ingress_annotations = merge(
    { "kubernetes.io/ingress.global-static-ip-name" = google_compute_global_address.dagster_ui.name },
    { for cert in google_compute_managed_ssl_certificate.dagster_ui : "ingress.gcp.kubernetes.io/pre-shared-cert" => cert.name },
  )
}

output "lake_bucket" {
  description = "The lake bucket: landed Toast files, versioned, moved to colder storage as they age."
  value       = google_storage_bucket.lake.name
}

output "lake_url" {
  description = "TOAST_LAKE_URL: the GCS lake, gs://<lake bucket>/<lake_prefix> (also in toast_settings_env)."
  value       = local.lake_url
}

output "compute_log_bucket" {
  description = "DAGSTER_COMPUTE_LOG_BUCKET: where deploy/dagster.yaml and the Helm chart put step logs."
  value       = google_storage_bucket.compute_logs.name
}

output "bigquery_datasets" {
  description = "The BigQuery datasets by layer: raw tables, dbt staging, intermediate, marts, reference seeds, quality results."
  value       = { for id, dataset in google_bigquery_dataset.toast : id => dataset.id }
}

output "pipeline_service_account" {
  description = "GCP service account of the code server and run pods (Workload Identity of the Kubernetes service account toast-pipeline)."
  value       = google_service_account.pipeline.email
}

output "dagster_service_account" {
  description = "GCP service account of the Dagster webserver and daemon (Kubernetes service account dagster)."
  value       = google_service_account.dagster.email
}

output "reader_service_account" {
  description = "GCP service account for dashboards: query access to the marts, reference and quality datasets."
  value       = google_service_account.reader.email
}

output "sftp_private_key_secret" {
  description = "Secret Manager secret to hold the private half of the key registered with Toast (add the value with gcloud)."
  value       = google_secret_manager_secret.sftp_private_key.secret_id
}

output "sftp_known_hosts_secret" {
  description = "Secret Manager secret to hold Toast's pinned host key line (ssh-keyscan output you verified)."
  value       = google_secret_manager_secret.sftp_known_hosts.secret_id
}

output "alert_webhook_secret" {
  description = "Secret Manager secret for the chat webhook URL alerts are posted to (TOAST_ALERT_WEBHOOK_URL); optional."
  value       = google_secret_manager_secret.alert_webhook.secret_id
}

output "dagster_pg_password_secret" {
  description = "Secret Manager secret with the password of the Cloud SQL user dagster (DAGSTER_PG_PASSWORD)."
  value       = google_secret_manager_secret.dagster_pg_password.secret_id
}

output "image_repository" {
  description = "Artifact Registry path to push the platform image to: <this>/toast-platform:<git sha>."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "cloudsql_instance" {
  description = "Cloud SQL instance connection name (project:region:instance), for gcloud and the Cloud SQL Auth Proxy."
  value       = google_sql_database_instance.dagster.connection_name
}

output "cloudsql_private_ip" {
  description = "DAGSTER_PG_HOST: the Cloud SQL private IP, reachable from the VPC only."
  value       = google_sql_database_instance.dagster.private_ip_address
}

output "ui_address" {
  description = "Static IP of the Dagster UI load balancer: point the DNS record of ui_domain at it."
  value       = google_compute_global_address.dagster_ui.address
}

output "toast_settings_env" {
  description = "TOAST_* settings of this environment as an env file (GCS lake, BigQuery warehouse, Toast login): the toast-settings ConfigMap, or lines for deploy/.env."
  value       = join("", [for name in sort(keys(local.toast_settings)) : "${name}=${local.toast_settings[name]}\n"])
}

output "helm_values" {
  description = "Environment-specific overlay for deploy/helm/values.yaml (service account bindings, Cloud SQL host, log bucket, ingress)."
  value = yamlencode({
    serviceAccount = {
      annotations = { "iam.gke.io/gcp-service-account" = google_service_account.dagster.email }
    }
    "dagster-user-deployments" = {
      serviceAccount = {
        annotations = { "iam.gke.io/gcp-service-account" = google_service_account.pipeline.email }
      }
    }
    postgresql = {
      postgresqlHost = google_sql_database_instance.dagster.private_ip_address
    }
    computeLogManager = {
      config = { gcsComputeLogManager = { bucket = google_storage_bucket.compute_logs.name } }
    }
    ingress = {
      annotations      = local.ingress_annotations
      dagsterWebserver = { host = var.ui_domain }
    }
  })
}
