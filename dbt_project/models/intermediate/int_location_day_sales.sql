-- Sales of each delivered location and business date: order counts, guests, tax, tips and
-- gratuity over orders not voided; net sales and discounts over items sold (not voided,
-- not deferred). Closed days and days without orders carry zeros.
with location_days as (

    select * from {{ ref('int_location_days') }}

),

orders as (

    select
        location_id,
        business_date,
        cast(count(case when not coalesce(is_voided, false) then 1 end) as {{ toast_bigint_type() }}) as orders_count,
        cast(count(case when is_voided then 1 end) as {{ toast_bigint_type() }}) as voided_orders_count,
        cast(
            sum(case when coalesce(is_voided, false) then 0 else guest_count end) as {{ toast_bigint_type() }}
        ) as guests_count,
        sum(case when coalesce(is_voided, false) then 0 else tax end) as tax_amount,
        sum(case when coalesce(is_voided, false) then 0 else tip end) as tip_amount,
        sum(case when coalesce(is_voided, false) then 0 else gratuity end) as gratuity_amount
    from {{ ref('stg_toast__order_details') }}
    group by location_id, business_date

),

items as (

    select
        location_id,
        business_date,
        sum(case when is_sale then net_price else 0 end) as net_sales,
        sum(case when is_sale then discount_amount else 0 end) as discount_amount
    from {{ ref('int_item_sales') }}
    group by location_id, business_date

)

select
    location_days.business_date,
    location_days.location_id,
    location_days.location_name,
    location_days.region,
    location_days.is_known_location,
    coalesce(orders.orders_count, 0) as orders_count,
    coalesce(orders.voided_orders_count, 0) as voided_orders_count,
    coalesce(orders.guests_count, 0) as guests_count,
    coalesce(items.net_sales, 0) as net_sales,
    coalesce(items.discount_amount, 0) as discount_amount,
    coalesce(orders.tax_amount, 0) as tax_amount,
    coalesce(orders.tip_amount, 0) as tip_amount,
    coalesce(orders.gratuity_amount, 0) as gratuity_amount
from location_days
left join orders
    on
        location_days.location_id = orders.location_id
        and location_days.business_date = orders.business_date
left join items
    on
        location_days.location_id = items.location_id
        and location_days.business_date = items.business_date
