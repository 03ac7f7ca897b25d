# The Dagster UI's front door: a static IP and a Google-managed certificate for the GKE
# ingress, and who Identity-Aware Proxy lets in. The IAP switch itself is the BackendConfig
# in deploy/helm/values.yaml; without an IAP grant nobody gets through.

resource "google_compute_global_address" "dagster_ui" {
  name = "${local.name}-dagster-ui"

  depends_on = [google_project_service.apis]
}

resource "google_compute_managed_ssl_certificate" "dagster_ui" {
  count = var.ui_domain != "" ? 1 : 0

  name = "${local.name}-dagster-ui"

  managed {
    domains = [var.ui_domain]
  }

  depends_on = [google_project_service.apis]
}

resource "google_iap_web_iam_member" "dagster_ui" {
  for_each = toset(var.ui_members)

  project = var.project_id
  role    = "roles/iap.httpsResourceAccessor"
  member  = each.value

  depends_on = [google_project_service.apis]
}
