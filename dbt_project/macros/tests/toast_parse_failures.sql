{#
    Raw rows of a Toast table with a non-empty cell that does not parse as its contract
    type (timestamp in no known format, money that is not a number, ...). Staging turns
    such cells into NULL instead of failing; this test counts them. The column types come
    from the generated sources YAML (meta.logical_type, from the contract).
#}
{% test toast_parse_failures(model, source_table) %}
    {%- set conditions = [] -%}
    {%- if execute -%}
        {%- set node = graph.sources.get('source.' ~ project_name ~ '.toast_raw.' ~ source_table) -%}
        {%- if node is none -%}
            {{ exceptions.raise_compiler_error("toast_parse_failures: no source toast_raw." ~ source_table) }}
        {%- endif -%}
        {%- for name, column in node.columns.items() -%}
            {%- set meta = column.meta or (column.config.meta if column.config else {}) or {} -%}
            {%- set logical_type = meta.get('logical_type') -%}
            {%- if logical_type not in (none, 'id', 'text') -%}
                {%- do conditions.append("(" ~ toast_text(name) ~ " is not null and " ~ toast_parse(logical_type, name) ~ " is null)") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}

    select
        _location_id as location_id,
        _business_date as business_date,
        _source_file,
        _row_number
    from {{ source('toast_raw', source_table) }}
    where {{ toast_in_window('_business_date') }}
        and ({{ conditions | join(' or ') if conditions else '1 = 0' }})
{% endtest %}
