{#
    DuckDB incremental strategy `replace_window`: a delete+insert keyed on business_date
    that deletes the whole window first. dbt's builtin delete+insert only deletes the dates
    present in the new rows, so a re-delivered day whose rows disappeared (an item no
    longer sold, a day that became closed) would keep stale rows.
#}
{% macro get_incremental_replace_window_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set dest_columns = arg_dict["dest_columns"] -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
    {%- if toast_window() is none -%}
        delete from {{ target }}
        where business_date in (select distinct business_date from {{ source }});
    {%- else -%}
        delete from {{ target }}
        where {{ toast_in_window("business_date") }};
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }}
    from {{ source }}
{%- endmacro %}



{#
    BigQuery: the partitions insert_overwrite replaces, computed when the model runs for
    models whose meta has `toast_window_partitions: true` (the marts). The window is read
    only at run time (macros/window.sql), so a `partitions` config would hold what the parse
    saw: none. The rest is dbt-bigquery 1.12's own bq_generate_incremental_build_sql, which
    this replaces: its three strategies unchanged.
#}
{% macro bq_generate_incremental_build_sql(
    strategy, tmp_relation, target_relation, sql, unique_key, partition_by, partitions, dest_columns, tmp_relation_exists, copy_partitions, incremental_predicates
) -%}
    {%- if partitions is none and (config.get('meta') or {}).get('toast_window_partitions', false) -%}
        {%- set partitions = toast_window_partitions() -%}
    {%- endif -%}
    {%- if strategy == 'insert_overwrite' -%}
        {%- set build_sql = bq_generate_incremental_insert_overwrite_build_sql(
            tmp_relation, target_relation, sql, unique_key, partition_by, partitions, dest_columns, tmp_relation_exists, copy_partitions
        ) -%}
    {%- elif strategy == 'microbatch' -%}
        {%- set build_sql = bq_generate_microbatch_build_sql(
            tmp_relation, target_relation, sql, unique_key, partition_by, partitions, dest_columns, tmp_relation_exists, copy_partitions
        ) -%}
    {%- else -%}
        {%- set build_sql = bq_generate_incremental_merge_build_sql(
            tmp_relation, target_relation, sql, unique_key, partition_by, dest_columns, tmp_relation_exists, incremental_predicates
        ) -%}
    {%- endif -%}
    {{ return(build_sql) }}
{%- endmacro %}
