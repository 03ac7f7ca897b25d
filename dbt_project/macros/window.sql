{#
    The business-date window of a run (inclusive ISO dates): vars start_date / end_date when
    given (`dbt build --vars ...` by hand), else TOAST_DBT_START_DATE / TOAST_DBT_END_DATE,
    how Dagster passes the partition window. Neither set = every loaded business date.

    Read only when dbt executes (compiles a node to run it), never while it parses: dbt
    records an environment variable read at parse time and re-parses every file that read
    it when its value changes, as it does for every changed var. Each daily run has a new
    window, so the marts and their tests were re-parsed on every run (about 3 s); now a new
    window leaves the kept parse state valid. Nothing the parse keeps may depend on the
    window: BigQuery's partitions to overwrite are computed when the model runs
    (macros/incremental.sql).
#}

{% macro toast_window() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set start = var('start_date', none) or env_var('TOAST_DBT_START_DATE', '') -%}
    {%- set end = var('end_date', none) or env_var('TOAST_DBT_END_DATE', '') -%}
    {%- if (start is none or start == '') and (end is none or end == '') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if start is none or start == '' or end is none or end == '' -%}
        {{ exceptions.raise_compiler_error("Set both vars start_date and end_date (inclusive YYYY-MM-DD), or neither; got start_date=" ~ start ~ ", end_date=" ~ end) }}
    {%- endif -%}
    {%- set first = modules.datetime.date.fromisoformat(start | string) -%}
    {%- set last = modules.datetime.date.fromisoformat(end | string) -%}
    {%- if last < first -%}
        {{ exceptions.raise_compiler_error("end_date " ~ last ~ " is before start_date " ~ first) }}
    {%- endif -%}
    {{ return([first, last]) }}
{%- endmacro %}


{# SQL predicate: column within the window, widened by lookback_days before its start. #}
{% macro toast_in_window(column, lookback_days=0) -%}
    {%- set window = toast_window() -%}
    {%- if window is none -%}
        1 = 1
    {%- else -%}
        {%- set first = window[0] - modules.datetime.timedelta(days=lookback_days) -%}
        {{ column }} between {{ toast_date_literal(first) }} and {{ toast_date_literal(window[1]) }}
    {%- endif -%}
{%- endmacro %}


{% macro toast_date_literal(value) -%}
    date '{{ value.isoformat() }}'
{%- endmacro %}


{#
    BigQuery insert_overwrite replaces exactly these partitions (a static list, so the
    statement is a plain MERGE that emulators run too). None = dynamic insert_overwrite
    of the partitions the query returns (a plain `dbt build` without a window). Used when
    the model runs (bq_generate_incremental_build_sql in macros/incremental.sql), for
    models whose meta has `toast_window_partitions: true`.
#}
{% macro toast_window_partitions() -%}
    {%- set window = toast_window() -%}
    {%- if window is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set partitions = [] -%}
    {%- for offset in range((window[1] - window[0]).days + 1) -%}
        {%- do partitions.append(toast_date_literal(window[0] + modules.datetime.timedelta(days=offset))) -%}
    {%- endfor -%}
    {{ return(partitions) }}
{%- endmacro %}


{#
    Data tests under staging, intermediate and marts carry `where: "__toast_window__"`
    (dbt_project.yml), so a daily run tests that day's rows instead of all history.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if "__toast_window__" in where -%}
            {%- set where = where | replace("__toast_window__", toast_in_window("business_date")) -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{#
    Mart table layout: on BigQuery partitioned by business_date (day) and clustered by
    location_id; none on DuckDB, where dbt-duckdb reads partition_by as a file-partitioning
    option of external tables.
#}
{% macro toast_mart_partition_by() -%}
    {%- if target.type == 'bigquery' -%}
        {{ return({'field': 'business_date', 'data_type': 'date', 'granularity': 'day'}) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}

{% macro toast_mart_cluster_by() -%}
    {%- if target.type == 'bigquery' -%}
        {{ return(['location_id']) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
