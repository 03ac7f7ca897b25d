# Cloud SQL for PostgreSQL: Dagster's own state (runs, event log, schedules, sensor cursors),
# read by deploy/dagster.yaml and the Helm chart through DAGSTER_PG_*. Private IP only, TLS
# required, daily backups and point-in-time recovery.

resource "google_compute_global_address" "private_services" {
  count = var.create_private_service_access ? 1 : 0

  name          = "${local.name}-private-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 20
  network       = var.network

  depends_on = [google_project_service.apis]
}

resource "google_service_networking_connection" "private_services" {
  count = var.create_private_service_access ? 1 : 0

  network                 = var.network
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.private_services[0].name]
}

resource "google_sql_database_instance" "dagster" {
  name                = "${local.name}-dagster"
  database_version    = "POSTGRES_15"
  region              = var.region
  deletion_protection = var.deletion_protection

  settings {
    tier              = var.cloudsql_tier
    edition           = "ENTERPRISE"
    availability_type = var.cloudsql_high_availability ? "REGIONAL" : "ZONAL"
    disk_type         = "PD_SSD"
    disk_size         = var.cloudsql_disk_gb
    disk_autoresize   = true
    user_labels       = local.labels

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      transaction_log_retention_days = var.cloudsql_pitr_days
      # 07:00 UTC: before the nightly exports are processed (04:30 New York time).
      start_time = "07:00"

      backup_retention_settings {
        retained_backups = var.cloudsql_backup_count
        retention_unit   = "COUNT"
      }
    }

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    # Sunday afternoon UTC, far from the morning runs.
    maintenance_window {
      day          = 7
      hour         = 18
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled = true
    }
  }

  depends_on = [google_service_networking_connection.private_services, google_project_service.apis]
}

resource "google_sql_database" "dagster" {
  name     = "dagster"
  instance = google_sql_database_instance.dagster.name
}

resource "google_sql_user" "dagster" {
  name     = "dagster"
  instance = google_sql_database_instance.dagster.name
  password = random_password.dagster_pg.result
}
