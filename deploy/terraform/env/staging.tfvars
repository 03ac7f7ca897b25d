# staging: the release rehearsal. Same shape as prod, smaller machines; images and Helm
# upgrades go here first.

project_id  = "acme-toast-staging"
environment = "staging"
region      = "us-east1"

network = "projects/acme-toast-staging/global/networks/toast"

sftp_host     = "sftp.toasttab.example"
sftp_username = "acme-staging-export"
export_ids    = []

first_business_date = "2025-01-01"

cloudsql_tier              = "db-custom-1-3840"
cloudsql_high_availability = false
cloudsql_backup_count      = 7
cloudsql_pitr_days         = 3
deletion_protection        = true

ui_domain  = "dagster.staging.example.com"
ui_members = ["group:toast-data-team@example.com"]

reader_members = ["group:toast-analysts@example.com"]
