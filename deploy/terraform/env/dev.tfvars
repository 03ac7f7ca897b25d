# dev: a small, disposable copy of the platform for trying changes against real GCP services.
# Replace the example values (project, network, SFTP login) with yours. No secrets here:
# the SFTP key and host key go to Secret Manager (deploy/README.md).

project_id  = "acme-toast-dev"
environment = "dev"
region      = "us-east1"

network = "projects/acme-toast-dev/global/networks/default"

# Toast's export login (from Toast's SFTP setup). A test login or the production one, read-only.
sftp_host     = "sftp.toasttab.example"
sftp_username = "acme-dev-export"
export_ids    = []

first_business_date = "2026-01-01"

# Small and cheap; nothing here is precious.
cloudsql_tier              = "db-f1-micro"
cloudsql_high_availability = false
cloudsql_backup_count      = 3
cloudsql_pitr_days         = 1
deletion_protection        = false
compute_log_retention_days = 7

ui_domain  = ""
ui_members = ["group:toast-data-team@example.com"]
