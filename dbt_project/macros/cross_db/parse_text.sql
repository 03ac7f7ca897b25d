{#
    Parsing the raw text of Toast exports into typed values. Every macro returns NULL for
    an empty cell and for a value it cannot read (never an error), so one bad cell cannot
    stop a run; the `toast_parse_failures` test counts such values per staging model.
#}

{# Trimmed text; empty cell -> NULL. IDs go through here too: 19-digit ids stay text. #}
{% macro toast_text(expr) -%}
    nullif(trim({{ expr }}), '')
{%- endmacro %}


{# Exact decimal type: BigQuery NUMERIC is DECIMAL(38, 9), so both adapters agree. #}
{% macro toast_numeric_type() -%}
    {{ return(adapter.dispatch('toast_numeric_type', 'toast')()) }}
{%- endmacro %}

{% macro default__toast_numeric_type() -%}
    decimal(38, 9)
{%- endmacro %}

{% macro bigquery__toast_numeric_type() -%}
    numeric
{%- endmacro %}


{# Money and quantities: `$1,020.00` -> 1020.00; also `-$5.00` and `($5.00)` -> -5.00. #}
{% macro toast_decimal(expr) -%}
    {{ return(adapter.dispatch('toast_decimal', 'toast')(expr)) }}
{%- endmacro %}

{% macro toast_decimal_text(expr) -%}
    nullif(replace(replace(replace(replace(replace(trim({{ expr }}), '$', ''), ',', ''), ' ', ''), '(', '-'), ')', ''), '')
{%- endmacro %}

{% macro default__toast_decimal(expr) -%}
    try_cast({{ toast_decimal_text(expr) }} as {{ toast_numeric_type() }})
{%- endmacro %}

{% macro bigquery__toast_decimal(expr) -%}
    safe_cast({{ toast_decimal_text(expr) }} as numeric)
{%- endmacro %}


{# Whole numbers that may print as `2.0`. #}
{% macro toast_int(expr) -%}
    cast(round({{ toast_decimal(expr) }}, 0) as {{ toast_bigint_type() }})
{%- endmacro %}


{# Lowercase true/false in Toast files; a few common spellings accepted. #}
{% macro toast_bool(expr) -%}
    case lower(trim({{ expr }}))
        when 'true' then true
        when 't' then true
        when 'yes' then true
        when 'y' then true
        when '1' then true
        when 'false' then false
        when 'f' then false
        when 'no' then false
        when 'n' then false
        when '0' then false
    end
{%- endmacro %}


{# The typed value of a raw cell for a contract logical type (see toast_assets/contract). #}
{% macro toast_parse(logical_type, expr) -%}
    {%- if logical_type in ('id', 'text') -%} {{ toast_text(expr) }}
    {%- elif logical_type == 'int' -%} {{ toast_int(expr) }}
    {%- elif logical_type == 'decimal' -%} {{ toast_decimal(expr) }}
    {%- elif logical_type == 'bool' -%} {{ toast_bool(expr) }}
    {%- elif logical_type == 'timestamp' -%} {{ toast_timestamp(expr) }}
    {%- elif logical_type == 'date' -%} {{ toast_date(expr) }}
    {%- elif logical_type == 'time' -%} {{ toast_time(expr) }}
    {%- elif logical_type == 'duration' -%} {{ toast_duration_seconds(expr) }}
    {%- else -%} {{ exceptions.raise_compiler_error("toast_parse: unknown logical type " ~ logical_type) }}
    {%- endif -%}
{%- endmacro %}


{# Money (and hour totals) as the marts report them: exact, to the hundredth (DuckDB DECIMAL(18, 2), BigQuery NUMERIC). #}
{% macro toast_money(expr) -%}
    {{ return(adapter.dispatch('toast_money', 'toast')(expr)) }}
{%- endmacro %}

{% macro default__toast_money(expr) -%}
    cast(round({{ expr }}, 2) as decimal(18, 2))
{%- endmacro %}

{% macro bigquery__toast_money(expr) -%}
    round(cast({{ expr }} as numeric), 2)
{%- endmacro %}


{# Counts and whole numbers; text. (dbt's cross-database type macros, named for sqlfluff's stubs.) #}
{% macro toast_bigint_type() -%}
    {{ dbt.type_bigint() }}
{%- endmacro %}

{% macro toast_string_type() -%}
    {{ dbt.type_string() }}
{%- endmacro %}
