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
