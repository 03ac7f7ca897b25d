{{ config(meta={'dagster': {'ref': {'name': 'sales_by_slice'}}}) }}

-- Every slice of sales_by_slice adds up to the day's orders and net sales.
with slices as (

    select
        location_id,
        business_date,
        slice,
        sum(orders_count) as orders_count,
        sum(net_sales) as net_sales
    from {{ ref('sales_by_slice') }}
    where {{ toast_in_window('business_date') }}
    group by location_id, business_date, slice

),

daily as (

    select
        location_id,
        business_date,
        orders_count,
        net_sales
    from {{ ref('daily_sales_summary') }}
    where {{ toast_in_window('business_date') }}

)

select
    slices.location_id,
    slices.business_date,
    slices.slice,
    slices.orders_count,
    slices.net_sales,
    daily.orders_count as daily_orders_count,
    daily.net_sales as daily_net_sales
from slices
left join daily
    on
        slices.location_id = daily.location_id
        and slices.business_date = daily.business_date
where
    daily.location_id is null
    or slices.orders_count != daily.orders_count
    or abs(slices.net_sales - daily.net_sales) > 0.005
