# Names, labels and the Google APIs everything else needs.

locals {
  name = "toast-${var.environment}"
  labels = {
    app         = "toast-data-platform"
    environment = var.environment
    managed_by  = "terraform"
  }
  lake_bucket_name = var.lake_bucket_name != "" ? var.lake_bucket_name : "${var.project_id}-toast-lake"
  lake_url         = "gs://${local.lake_bucket_name}/${var.lake_prefix}"
}

resource "google_project_service" "apis" {
  for_each = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "compute.googleapis.com",
    "iam.googleapis.com",
    "iap.googleapis.com",
    "secretmanager.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ])
  service = each.value
  # Turning an API off would break whatever else in the project uses it.
  disable_on_destroy = false
}
