-- The same day's sales as four files describe them, side by side per location and business
-- date: item selections, orders, captured payments and the product mix (AllItemsReport).
-- They are produced by different Toast reports; when they disagree beyond a tolerance the
-- export is incomplete or was cut at a different time, which the warn-level tests report.
with location_days as (

    select
        location_id,
        business_date
    from {{ ref('int_location_days') }}

),

items as (

    select
        location_id,
        business_date,
        sum(case when is_sale then net_price else 0 end) as item_net_sales,
        sum(case when not is_voided then net_price else 0 end) as item_net_incl_deferred
    from {{ ref('int_item_sales') }}
    group by location_id, business_date

),

orders as (

    select
        location_id,
        business_date,
        sum(case when coalesce(is_voided, false) then 0 else amount end) as order_amount,
        sum(case when coalesce(is_voided, false) then 0 else total end) as order_total
    from {{ ref('stg_toast__order_details') }}
    group by location_id, business_date

),

payments as (

    select
        location_id,
        business_date,
        sum(case when upper(status) = 'CAPTURED' then total else 0 end) as captured_payment_total
    from {{ ref('stg_toast__payment_details') }}
    group by location_id, business_date

),

product_mix as (

    select
        location_id,
        business_date,
        sum(net_amount) as product_mix_net_sales
    from {{ ref('stg_toast__all_items_report') }}
    group by location_id, business_date

)

select
    location_days.location_id,
    location_days.business_date,
    product_mix.product_mix_net_sales,
    coalesce(items.item_net_sales, 0) as item_net_sales,
    coalesce(items.item_net_incl_deferred, 0) as item_net_incl_deferred,
    coalesce(orders.order_amount, 0) as order_amount,
    coalesce(orders.order_total, 0) as order_total,
    coalesce(payments.captured_payment_total, 0) as captured_payment_total
from location_days
left join items
    on location_days.location_id = items.location_id and location_days.business_date = items.business_date
left join orders
    on location_days.location_id = orders.location_id and location_days.business_date = orders.business_date
left join payments
    on location_days.location_id = payments.location_id and location_days.business_date = payments.business_date
left join product_mix
    on
        location_days.location_id = product_mix.location_id
        and location_days.business_date = product_mix.business_date
