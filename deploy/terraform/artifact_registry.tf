# The Docker repository for the platform image built from deploy/Dockerfile.

resource "google_artifact_registry_repository" "images" {
  repository_id = "toast-platform"
  location      = var.region
  format        = "DOCKER"
  description   = "Toast data platform images (deploy/Dockerfile), tagged by git commit."
  labels        = local.labels

  # Keep recent releases for `helm rollback`; drop old untagged layers.
  cleanup_policies {
    id     = "keep-recent-releases"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_artifact_registry_repository_iam_member" "pullers" {
  for_each = toset(var.image_pullers)

  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.reader"
  member     = each.value
}

resource "google_artifact_registry_repository_iam_member" "pushers" {
  for_each = toset(var.image_pushers)

  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = each.value
}
