{{ config(
    partition_by=toast_mart_partition_by(),
    cluster_by=toast_mart_cluster_by(),
    meta={'toast_window_partitions': true},
) }}

-- What each location sold on each business date, by Toast's own definitions. One row per
-- location that delivered files, closed days included with zeros.
with location_day_sales as (

    select * from {{ ref('int_location_day_sales') }}
    where {{ toast_in_window('business_date') }}

)

select
    business_date,
    location_id,
    location_name,
    orders_count,
    voided_orders_count,
    guests_count,
    {{ toast_money('net_sales') }} as net_sales,
    {{ toast_money('discount_amount') }} as discount_amount,
    {{ toast_money('net_sales + discount_amount') }} as gross_sales,
    {{ toast_money('tax_amount') }} as tax_amount,
    {{ toast_money('tip_amount') }} as tip_amount,
    {{ toast_money('gratuity_amount') }} as gratuity_amount,
    {{ toast_money('net_sales / nullif(orders_count, 0)') }} as avg_order_value,
    region,
    is_known_location
from location_day_sales
