{{ config(
    partition_by=toast_mart_partition_by(),
    cluster_by=toast_mart_cluster_by(),
    meta={'toast_window_partitions': true},
) }}

-- How each menu item sold at each location on each business date. Sales columns count
-- items sold (not voided, not deferred), so net_sales summed over a location's items
-- equals daily_sales_summary.net_sales; voided_quantity counts the voided ones.
with items as (

    select * from {{ ref('int_item_sales') }}
    where {{ toast_in_window('business_date') }}

),

location_days as (

    select * from {{ ref('int_location_days') }}
    where {{ toast_in_window('business_date') }}

),

per_item as (

    select
        location_id,
        business_date,
        menu_item,
        max(menu_group) as menu_group,
        max(sales_category) as sales_category,
        sum(case when is_sale then quantity else 0 end) as quantity_sold,
        sum(case when is_sale then discount_amount else 0 end) as discount_amount,
        sum(case when is_sale then net_price else 0 end) as net_sales,
        sum(case when is_voided then quantity else 0 end) as voided_quantity,
        count(distinct case when is_sale then order_id end) as orders_count
    from items
    group by location_id, business_date, menu_item

)

select
    per_item.business_date,
    per_item.location_id,
    location_days.location_name,
    per_item.menu_item,
    per_item.menu_group,
    per_item.sales_category,
    per_item.quantity_sold,
    {{ toast_money('per_item.net_sales + per_item.discount_amount') }} as gross_sales,
    {{ toast_money('per_item.discount_amount') }} as discount_amount,
    {{ toast_money('per_item.net_sales') }} as net_sales,
    per_item.voided_quantity,
    per_item.orders_count,
    per_item.net_sales
    / nullif(sum(per_item.net_sales) over (partition by per_item.location_id, per_item.business_date), 0)
        as share_of_location_net_sales,
    location_days.region
from per_item
left join location_days
    on
        per_item.location_id = location_days.location_id
        and per_item.business_date = location_days.business_date
