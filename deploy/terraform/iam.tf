# Service accounts, each with only what its job needs.
#
#   pipeline  the code server and the run pods: reads the SFTP key, writes the GCS lake, loads
#             and models BigQuery, writes step logs
#   dagster   the webserver and the daemon: read step logs (the instance needs nothing else
#             from GCP; Postgres is reached by private IP and password)
#   reader    dashboards and analysts: query the marts, reference and quality datasets only
#
# The pipeline's grants, by what the code does (tests/test_deploy.py holds them to this list):
#   project       bigquery.jobUser: queries, load jobs, and the session that holds a run's
#                 multi-statement transaction (what a job may touch is granted per dataset)
#   lake bucket   storage.objectAdmin: land files (conditional writes, the old bytes of an
#                 overwrite kept under _versions/), list and read them back, write the per-run
#                 BigQuery load files under <prefix>/_loads/, which the load jobs read with the
#                 pipeline's own credentials; storage.legacyBucketReader: the bucket's metadata,
#                 which a load job from Cloud Storage checks
#   raw dataset   bigquery.dataEditor: create the raw tables and append a newer contract's
#                 columns, create and drop the staging tables _load_<table>_<run> (24 h
#                 expiry), MERGE the run's business dates in one transaction
#   dbt datasets  bigquery.dataEditor: dbt's views and tables in toast_staging,
#                 toast_intermediate and toast_marts, the seeds in toast_reference, the quality
#                 results in toast_quality (a staging table and a MERGE, like the raw load)
#   log bucket    storage.objectAdmin + legacyBucketReader: step logs
#   secrets       secretmanager.secretAccessor on the SFTP key, known_hosts and webhook
# Terraform makes the datasets, so the pipeline needs no dataset-creating (project) role, and
# dataEditor on a dataset can neither delete it nor change who may read it.

resource "google_service_account" "pipeline" {
  account_id   = "${local.name}-pipeline"
  display_name = "Toast platform pipeline (${var.environment})"
  description  = "Runs the Toast data platform's code server and runs: SFTP key, lake, BigQuery loads and dbt."
}

resource "google_service_account" "dagster" {
  account_id   = "${local.name}-dagster"
  display_name = "Dagster webserver and daemon (${var.environment})"
  description  = "Dagster's webserver and daemon: read the step logs the UI shows."
}

resource "google_service_account" "reader" {
  account_id   = "${local.name}-reader"
  display_name = "Toast marts reader (${var.environment})"
  description  = "For dashboards: query the marts, reference and quality datasets."
}

# ---------------------------------------------------------------------------- lake and step logs

# Land files (create only if absent, overwrite by generation, keep the old bytes under
# _versions/ by a server-side copy), list and read them back, write the BigQuery load files
# under _loads/; a load job reads those with the pipeline's credentials.
resource "google_storage_bucket_iam_member" "pipeline_lake" {
  bucket = google_storage_bucket.lake.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.pipeline.member
}

resource "google_storage_bucket_iam_member" "pipeline_compute_logs" {
  bucket = google_storage_bucket.compute_logs.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.pipeline.member
}

resource "google_storage_bucket_iam_member" "dagster_compute_logs" {
  bucket = google_storage_bucket.compute_logs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.dagster.member
}

# GCSComputeLogManager checks that its bucket exists when the instance loads (buckets.get),
# which no object role grants.
resource "google_storage_bucket_iam_member" "compute_logs_bucket_get" {
  for_each = {
    pipeline = google_service_account.pipeline.member
    dagster  = google_service_account.dagster.member
  }
  bucket = google_storage_bucket.compute_logs.name
  role   = "roles/storage.legacyBucketReader"
  member = each.value
}

# BigQuery's documentation for loads from Cloud Storage lists storage.buckets.get besides
# objects.get, and no object role grants it: the lake bucket's metadata, nothing more.
resource "google_storage_bucket_iam_member" "pipeline_lake_bucket_get" {
  bucket = google_storage_bucket.lake.name
  role   = "roles/storage.legacyBucketReader"
  member = google_service_account.pipeline.member
}

# ---------------------------------------------------------------------------- BigQuery

# The pipeline writes every dataset: the raw tables, their staging tables and schema updates
# in the raw dataset; dbt's views, tables and seeds; the quality results (see the top).
resource "google_bigquery_dataset_iam_member" "pipeline_writes" {
  for_each = google_bigquery_dataset.toast

  dataset_id = each.value.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.pipeline.member
}

# for_each keys must be known when planning, and a new service account's email is not: the
# accounts are keyed by role name, the listed members by themselves.
locals {
  readable_datasets = [for id, dataset in local.datasets : id if dataset.readable]
  readers = merge(
    { reader_service_account = google_service_account.reader.member },
    { for member in var.reader_members : member => member },
  )
  dataset_readers = {
    for pair in setproduct(local.readable_datasets, keys(local.readers)) :
    "${pair[0]}|${pair[1]}" => { dataset = pair[0], member = local.readers[pair[1]] }
  }
  job_users = merge(
    { pipeline_service_account = google_service_account.pipeline.member },
    local.readers,
  )
}

resource "google_bigquery_dataset_iam_member" "readers" {
  for_each = local.dataset_readers

  dataset_id = google_bigquery_dataset.toast[each.value.dataset].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value.member
}

# Running a query, a load job or a transaction's session is a project-level permission
# (bigquery.jobs.create); what the job may read or write is granted on the datasets above.
resource "google_project_iam_member" "bigquery_job_users" {
  for_each = local.job_users

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = each.value
}

# ---------------------------------------------------------------------------- Workload Identity

# The Kubernetes service accounts named in deploy/helm/values.yaml act as these GCP accounts.
resource "google_service_account_iam_member" "pipeline_workload_identity" {
  count = var.workload_identity ? 1 : 0

  service_account_id = google_service_account.pipeline.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.k8s_namespace}/toast-pipeline]"
}

resource "google_service_account_iam_member" "dagster_workload_identity" {
  count = var.workload_identity ? 1 : 0

  service_account_id = google_service_account.dagster.name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.k8s_namespace}/dagster]"
}
