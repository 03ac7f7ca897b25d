# prod: what the restaurant group's dashboards read every morning.

project_id  = "acme-toast-prod"
environment = "prod"
region      = "us-east1"

network = "projects/acme-toast-prod/global/networks/toast"

sftp_host     = "sftp.toasttab.example"
sftp_username = "acme-export"
# Empty: every location folder the login sees. List ids to restrict (digits only).
export_ids = []

first_business_date = "2024-01-01"

# Keep two years of raw partitions in BigQuery; the lake keeps every file regardless.
raw_partition_expiration_days = 730

cloudsql_tier              = "db-custom-2-7680"
cloudsql_high_availability = true
cloudsql_backup_count      = 30
cloudsql_pitr_days         = 7
deletion_protection        = true
compute_log_retention_days = 30

ui_domain  = "dagster.example.com"
ui_members = ["group:toast-data-team@example.com"]

reader_members = ["group:toast-analysts@example.com"]

image_pushers = ["serviceAccount:ci-builder@acme-ci.iam.gserviceaccount.com"]
