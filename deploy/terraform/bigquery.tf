# One dataset per layer, named as the code and the dbt project name them (dbt_project.yml
# `+schema`, generate_schema_name keeps them verbatim); tests/test_deploy.py compares them.

locals {
  datasets = {
    (var.raw_dataset_id) = {
      description               = "Raw Toast exports: every column as text plus lineage columns, one partition per business date; rows that break the contract in `quarantine`."
      partition_expiration_days = var.raw_partition_expiration_days
      readable                  = false
    }
    toast_staging = {
      description               = "dbt staging views: the raw tables renamed and typed. Internal to the pipeline."
      partition_expiration_days = null
      readable                  = false
    }
    toast_intermediate = {
      description               = "dbt intermediate models: the one definition of a sale, location-days, reconciliations. Internal to the pipeline."
      partition_expiration_days = null
      readable                  = false
    }
    toast_marts = {
      description               = "Sales, product and store marts by location and business date: what dashboards read."
      partition_expiration_days = null
      readable                  = true
    }
    toast_reference = {
      description               = "Reference data maintained in the repository (dbt seeds), e.g. the locations list."
      partition_expiration_days = null
      readable                  = true
    }
    toast_quality = {
      description               = "Data quality results: the weekly validation report and check findings."
      partition_expiration_days = var.quality_partition_expiration_days
      readable                  = true
    }
  }
}

resource "google_bigquery_dataset" "toast" {
  for_each = local.datasets

  dataset_id                      = each.key
  location                        = var.bigquery_location
  description                     = each.value.description
  default_partition_expiration_ms = each.value.partition_expiration_days == null ? null : each.value.partition_expiration_days * 86400000
  delete_contents_on_destroy      = !var.deletion_protection
  labels                          = local.labels

  depends_on = [google_project_service.apis]
}
