{#
    Toast timestamps are the restaurant's local wall clock without an offset, so they
    become DuckDB TIMESTAMP / BigQuery DATETIME (never a zoned TIMESTAMP). Formats seen in
    real files or documented (toast-exports.md): 10/8/26 5:18 PM, 10/8/26 5:18:07 PM,
    10/8/2026 5:18 PM, 10/8/2026 17:18:00, and ISO (2026-10-08T17:18:00, optional
    fraction and offset, the offset ignored). Anything else is NULL.
#}

{#- The first format that reads a value wins and `%Y` reads `26` as year 26: every
    two-digit-year form comes before its four-digit one (`%y` refuses `2026`). -#}
{% macro toast_timestamp_formats() -%}
    {{ return([
        '%m/%d/%y %I:%M %p',
        '%m/%d/%y %I:%M:%S %p',
        '%m/%d/%Y %I:%M %p',
        '%m/%d/%Y %I:%M:%S %p',
        '%m/%d/%y %H:%M:%S',
        '%m/%d/%y %H:%M',
        '%m/%d/%Y %H:%M:%S',
        '%m/%d/%Y %H:%M',
    ]) }}
{%- endmacro %}

{% macro toast_timestamp_type() -%}
    {{ return(adapter.dispatch('toast_timestamp_type', 'toast')()) }}
{%- endmacro %}

{% macro default__toast_timestamp_type() -%}
    timestamp
{%- endmacro %}

{% macro bigquery__toast_timestamp_type() -%}
    datetime
{%- endmacro %}


{% macro toast_timestamp(expr) -%}
    {{ return(adapter.dispatch('toast_timestamp', 'toast')(expr)) }}
{%- endmacro %}

{% macro default__toast_timestamp(expr) -%}
    {%- set value = "upper(trim(" ~ expr ~ "))" -%}
    coalesce(
        try_strptime({{ value }}, [{% for f in toast_timestamp_formats() %}'{{ f }}'{{ ", " if not loop.last }}{% endfor %}]),
        case
            when regexp_matches({{ value }}, '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?')
                then try_cast(regexp_extract({{ value }}, '^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)', 1)
                    || ' ' || regexp_extract({{ value }}, '^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)', 2) as timestamp)
        end
    )
{%- endmacro %}

{% macro bigquery__toast_timestamp(expr) -%}
    {%- set value = "upper(trim(" ~ expr ~ "))" -%}
    coalesce(
        {%- for f in toast_timestamp_formats() %}
        safe.parse_datetime('{{ f }}', {{ value }}),
        {%- endfor %}
        case
            when regexp_contains({{ value }}, r'^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?')
                then safe_cast(replace(regexp_extract({{ value }}, r'^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)'), 'T', ' ') as datetime)
        end
    )
{%- endmacro %}


{# Dates such as CheckDetails `Opened Date` (MM/DD/YY), also MM/DD/YYYY and ISO. #}
{% macro toast_date(expr) -%}
    {{ return(adapter.dispatch('toast_date', 'toast')(expr)) }}
{%- endmacro %}

{% macro default__toast_date(expr) -%}
    cast(coalesce(
        try_strptime(trim({{ expr }}), ['%m/%d/%y', '%m/%d/%Y', '%Y-%m-%d']),
        {{ toast_timestamp(expr) }}
    ) as date)
{%- endmacro %}

{% macro bigquery__toast_date(expr) -%}
    coalesce(
        safe.parse_date('%m/%d/%y', trim({{ expr }})),
        safe.parse_date('%m/%d/%Y', trim({{ expr }})),
        safe.parse_date('%Y-%m-%d', trim({{ expr }})),
        date({{ toast_timestamp(expr) }})
    )
{%- endmacro %}


{# Times of day such as CheckDetails `Opened Time` (hh:mm AM/PM), also 24-hour. #}
{% macro toast_time(expr) -%}
    {{ return(adapter.dispatch('toast_time', 'toast')(expr)) }}
{%- endmacro %}

{% macro default__toast_time(expr) -%}
    cast(try_strptime(upper(trim({{ expr }})), ['%I:%M %p', '%I:%M:%S %p', '%H:%M:%S', '%H:%M']) as time)
{%- endmacro %}

{% macro bigquery__toast_time(expr) -%}
    coalesce(
        safe.parse_time('%I:%M %p', upper(trim({{ expr }}))),
        safe.parse_time('%I:%M:%S %p', upper(trim({{ expr }}))),
        safe.parse_time('%H:%M:%S', trim({{ expr }})),
        safe.parse_time('%H:%M', trim({{ expr }}))
    )
{%- endmacro %}


{# A local timestamp from separate date and time cells (CheckDetails). #}
{% macro toast_timestamp_from_parts(date_expr, time_expr) -%}
    {{ return(adapter.dispatch('toast_timestamp_from_parts', 'toast')(date_expr, time_expr)) }}
{%- endmacro %}

{% macro default__toast_timestamp_from_parts(date_expr, time_expr) -%}
    cast({{ date_expr }} + {{ time_expr }} as timestamp)
{%- endmacro %}

{% macro bigquery__toast_timestamp_from_parts(date_expr, time_expr) -%}
    datetime({{ date_expr }}, {{ time_expr }})
{%- endmacro %}


{#
    Durations in seconds: `HH:MM:SS` (Duration (Opened to Paid)) or Toast's prose
    (`1 hour, 2 minutes and 6 seconds`, Fulfillment Time).
#}
{% macro toast_duration_seconds(expr) -%}
    {{ return(adapter.dispatch('toast_duration_seconds', 'toast')(expr)) }}
{%- endmacro %}

{% macro default__toast_duration_seconds(expr) -%}
    {%- set value = "lower(trim(" ~ expr ~ "))" -%}
    case
        when regexp_matches({{ value }}, '^\d+:\d{1,2}:\d{1,2}$')
            then cast(split_part({{ value }}, ':', 1) as bigint) * 3600
                + cast(split_part({{ value }}, ':', 2) as bigint) * 60
                + cast(split_part({{ value }}, ':', 3) as bigint)
        when regexp_matches({{ value }}, '^(\d+ (day|hour|minute|second)s?(, | and |,? and )?)+$')
            then coalesce(try_cast(nullif(regexp_extract({{ value }}, '(\d+) days?', 1), '') as bigint), 0) * 86400
                + coalesce(try_cast(nullif(regexp_extract({{ value }}, '(\d+) hours?', 1), '') as bigint), 0) * 3600
                + coalesce(try_cast(nullif(regexp_extract({{ value }}, '(\d+) minutes?', 1), '') as bigint), 0) * 60
                + coalesce(try_cast(nullif(regexp_extract({{ value }}, '(\d+) seconds?', 1), '') as bigint), 0)
    end
{%- endmacro %}

{% macro bigquery__toast_duration_seconds(expr) -%}
    {%- set value = "lower(trim(" ~ expr ~ "))" -%}
    case
        when regexp_contains({{ value }}, r'^\d+:\d{1,2}:\d{1,2}$')
            then cast(split({{ value }}, ':')[offset(0)] as int64) * 3600
                + cast(split({{ value }}, ':')[offset(1)] as int64) * 60
                + cast(split({{ value }}, ':')[offset(2)] as int64)
        when regexp_contains({{ value }}, r'^(\d+ (day|hour|minute|second)s?(, | and |,? and )?)+$')
            then coalesce(cast(regexp_extract({{ value }}, r'(\d+) days?') as int64), 0) * 86400
                + coalesce(cast(regexp_extract({{ value }}, r'(\d+) hours?') as int64), 0) * 3600
                + coalesce(cast(regexp_extract({{ value }}, r'(\d+) minutes?') as int64), 0) * 60
                + coalesce(cast(regexp_extract({{ value }}, r'(\d+) seconds?') as int64), 0)
    end
{%- endmacro %}
