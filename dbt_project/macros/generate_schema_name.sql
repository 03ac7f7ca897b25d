{#
    Schemas (BigQuery datasets) are named exactly as configured: toast_staging,
    toast_intermediate, toast_marts, toast_reference. dbt's default would prefix the
    target schema (toast_staging_toast_marts), which breaks the names BI tools read.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
