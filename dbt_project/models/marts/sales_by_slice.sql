{{ config(
    partition_by=toast_mart_partition_by(),
    cluster_by=toast_mart_cluster_by(),
    meta={'toast_window_partitions': true},
) }}

-- The day's sales sliced the ways analysts ask for: by daypart (Service), revenue center,
-- dining option (first of Dining Options), order source and hour the order opened. One row
-- per location, business date, slice and slice value; each slice adds up to the day.
with orders as (

    select
        location_id,
        business_date,
        order_id,
        coalesce(is_voided, false) as is_voided,
        coalesce(guest_count, 0) as guest_count,
        coalesce(service, '(none)') as daypart,
        coalesce(revenue_center, '(none)') as revenue_center,
        coalesce({{ toast_first_token('dining_options') }}, '(none)') as dining_option,
        coalesce(order_source, '(none)') as order_source,
        coalesce(lpad(cast(extract(hour from opened_at) as {{ toast_string_type() }}), 2, '0'), '(none)') as hour_of_day
    from {{ ref('stg_toast__order_details') }}
    where {{ toast_in_window('business_date') }}

),

item_sales as (

    select
        location_id,
        business_date,
        order_id,
        sum(net_price) as net_sales,
        sum(discount_amount) as discount_amount
    from {{ ref('int_item_sales') }}
    where
        is_sale
        and {{ toast_in_window('business_date') }}
    group by location_id, business_date, order_id

),

order_sales as (

    select
        orders.*,
        coalesce(item_sales.net_sales, 0) as net_sales,
        coalesce(item_sales.discount_amount, 0) as discount_amount
    from orders
    left join item_sales
        on
            orders.location_id = item_sales.location_id
            and orders.business_date = item_sales.business_date
            and orders.order_id = item_sales.order_id

),

sliced as (

    {% for slice in ['daypart', 'revenue_center', 'dining_option', 'order_source', 'hour_of_day'] %}
        select
            location_id,
            business_date,
            is_voided,
            guest_count,
            net_sales,
            discount_amount,
            '{{ slice }}' as slice,
            {{ slice }} as slice_value
        from order_sales
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select
    business_date,
    location_id,
    slice,
    slice_value,
    cast(sum(case when is_voided then 0 else 1 end) as {{ toast_bigint_type() }}) as orders_count,
    cast(sum(case when is_voided then 0 else guest_count end) as {{ toast_bigint_type() }}) as guests_count,
    {{ toast_money('sum(net_sales)') }} as net_sales,
    {{ toast_money('sum(discount_amount)') }} as discount_amount
from sliced
group by business_date, location_id, slice, slice_value
