# Secret Manager entries. Terraform creates the SFTP and webhook secrets empty: their values are added by
# a person (deploy/README.md) and never pass through Terraform state. The Cloud SQL password
# is generated here, so it is in the state as well as in Secret Manager.

resource "google_secret_manager_secret" "sftp_private_key" {
  secret_id = "${local.name}-sftp-private-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# Toast's pinned host key (an OpenSSH known_hosts line). Not secret, but it decides whom the
# pipeline trusts, so it is versioned and access-controlled like the key.
resource "google_secret_manager_secret" "sftp_known_hosts" {
  secret_id = "${local.name}-sftp-known-hosts"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

# The chat webhook alerts are posted to (TOAST_ALERT_WEBHOOK_URL): the URL is its own password.
resource "google_secret_manager_secret" "alert_webhook" {
  secret_id = "${local.name}-alert-webhook"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "pipeline_sftp" {
  for_each = {
    private_key   = google_secret_manager_secret.sftp_private_key.id
    known_hosts   = google_secret_manager_secret.sftp_known_hosts.id
    alert_webhook = google_secret_manager_secret.alert_webhook.id
  }

  secret_id = each.value
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.pipeline.member
}

resource "random_password" "dagster_pg" {
  length  = 32
  special = false
}

resource "google_secret_manager_secret" "dagster_pg_password" {
  secret_id = "${local.name}-dagster-pg-password"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_version" "dagster_pg_password" {
  secret      = google_secret_manager_secret.dagster_pg_password.id
  secret_data = random_password.dagster_pg.result
}
