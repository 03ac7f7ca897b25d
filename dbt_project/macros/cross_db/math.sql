{#
    num / den, NULL when den is 0 or NULL. BigQuery's SAFE_DIVIDE is its idiom for this
    (a plain `/` raises on zero even behind a guard: BigQuery does not promise to evaluate
    OR/CASE branches in order); the BigQuery emulator the tests run also mis-plans
    `x / nullif(y, 0)` over views whose columns are parsed with SAFE.PARSE_DATETIME.
#}
{% macro toast_safe_divide(num, den) -%}
    {{ return(adapter.dispatch('toast_safe_divide', 'toast')(num, den)) }}
{%- endmacro %}

{% macro default__toast_safe_divide(num, den) -%}
    ({{ num }}) / nullif({{ den }}, 0)
{%- endmacro %}

{% macro bigquery__toast_safe_divide(num, den) -%}
    safe_divide({{ num }}, {{ den }})
{%- endmacro %}
