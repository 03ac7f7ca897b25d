{# Whole days since 1970-01-01: an integer order key for RANGE window frames on both adapters. #}
{% macro toast_day_number(date_expr) -%}
    {{ return(adapter.dispatch('toast_day_number', 'toast')(date_expr)) }}
{%- endmacro %}

{% macro default__toast_day_number(date_expr) -%}
    datediff('day', date '1970-01-01', {{ date_expr }})
{%- endmacro %}

{% macro bigquery__toast_day_number(date_expr) -%}
    unix_date({{ date_expr }})
{%- endmacro %}


{# Minutes from one local timestamp to another, fractional. #}
{% macro toast_minutes_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('toast_minutes_between', 'toast')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro default__toast_minutes_between(start_expr, end_expr) -%}
    datediff('second', {{ start_expr }}, {{ end_expr }}) / 60.0
{%- endmacro %}

{% macro bigquery__toast_minutes_between(start_expr, end_expr) -%}
    datetime_diff({{ end_expr }}, {{ start_expr }}, second) / 60.0
{%- endmacro %}


{# First entry of a comma-joined multi-value cell (`Bar, Bar` -> `Bar`). #}
{% macro toast_first_token(expr) -%}
    {{ return(adapter.dispatch('toast_first_token', 'toast')(expr)) }}
{%- endmacro %}

{% macro default__toast_first_token(expr) -%}
    nullif(trim(split_part({{ expr }}, ',', 1)), '')
{%- endmacro %}

{% macro bigquery__toast_first_token(expr) -%}
    nullif(trim(split({{ expr }}, ',')[safe_offset(0)]), '')
{%- endmacro %}
