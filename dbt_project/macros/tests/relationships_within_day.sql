{#
    Every non-null value of column_name has a matching `to`.`field` for the same location
    and business date (ids are only unique per location and day, and a day is replaced as
    a whole, so that is the grain referential integrity holds at).
#}
{% test relationships_within_day(model, column_name, to, field) %}
    select child.location_id, child.business_date, child.{{ column_name }}
    from (select * from {{ model }}) as child
    left join {{ to }} as parent
        on child.location_id = parent.location_id
        and child.business_date = parent.business_date
        and child.{{ column_name }} = parent.{{ field }}
    where child.{{ column_name }} is not null
        and parent.{{ field }} is null
{% endtest %}
