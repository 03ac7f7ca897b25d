{{ config(meta={'dagster': {'ref': {'name': 'product_performance'}}}) }}

-- product_performance.net_sales summed over a location's items equals
-- daily_sales_summary.net_sales for the same location and business date.
with products as (

    select
        location_id,
        business_date,
        sum(net_sales) as net_sales
    from {{ ref('product_performance') }}
    where {{ toast_in_window('business_date') }}
    group by location_id, business_date

),

daily as (

    select
        location_id,
        business_date,
        net_sales
    from {{ ref('daily_sales_summary') }}
    where {{ toast_in_window('business_date') }}

)

select
    daily.location_id,
    daily.business_date,
    daily.net_sales as daily_net_sales,
    products.net_sales as product_net_sales
from daily
full outer join products
    on
        daily.location_id = products.location_id
        and daily.business_date = products.business_date
where abs(coalesce(daily.net_sales, 0) - coalesce(products.net_sales, 0)) > 0.005
