# The lake (every Toast file, byte for byte, with history, and the BigQuery warehouse's
# per-run load files under <prefix>/_loads/) and the bucket for Dagster's step logs.

resource "google_storage_bucket" "lake" {
  name                        = local.lake_bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection
  labels                      = local.labels

  # A corrected re-delivery overwrites the same object; versioning keeps what arrived before.
  versioning {
    enabled = true
  }

  # Recent dates are read by re-loads and backfills; older files only for audits and rebuilds.
  lifecycle_rule {
    condition {
      age                   = var.lake_nearline_after_days
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.lake_coldline_after_days
      matches_storage_class = ["NEARLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  # Overwritten versions are kept for a while, then deleted; the current file never is.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.lake_noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # The BigQuery warehouse stages one Parquet file per table and run under _loads/; a load
  # job reads it once, so it is scratch after a week.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["${var.lake_prefix}/_loads/"]
    }
    action {
      type = "Delete"
    }
  }

  # BigQuery load jobs read the load files from this bucket: it must be in the datasets'
  # location (the same region, or a region inside the US or EU multi-region).
  lifecycle {
    precondition {
      condition = (
        lower(var.bigquery_location) == lower(var.region)
        || (upper(var.bigquery_location) == "US" && startswith(lower(var.region), "us-"))
        || (upper(var.bigquery_location) == "EU" && startswith(lower(var.region), "europe-"))
      )
      error_message = "The lake bucket (region ${var.region}) must be in the BigQuery location ${var.bigquery_location}: BigQuery loads only from a bucket in the datasets' location."
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "compute_logs" {
  name                        = "${var.project_id}-toast-dagster-logs"
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = local.labels

  lifecycle_rule {
    condition {
      age = var.compute_log_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}
