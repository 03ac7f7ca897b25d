{{ config(
    partition_by=toast_mart_partition_by(),
    cluster_by=toast_mart_cluster_by(),
    meta={'toast_window_partitions': true},
) }}

-- How each store is trending: the day's sales beside its rolling week, the same weekday a
-- week earlier, tips, card share, kitchen speed, labor and the cash drawer. Rolling values
-- read the seven business dates before the window, so the first days of a range are right.
with location_day_sales as (

    select * from {{ ref('int_location_day_sales') }}
    where {{ toast_in_window('business_date', lookback_days=7) }}

),

rolling as (

    select
        *,
        {{ toast_day_number('business_date') }} as day_number,
        sum(net_sales) over (
            partition by location_id
            order by {{ toast_day_number('business_date') }}
            range between 6 preceding and current row
        ) as net_sales_7d
    from location_day_sales

),

operations as (

    select * from {{ ref('int_location_day_operations') }}
    where {{ toast_in_window('business_date') }}

)

select
    today.business_date,
    today.location_id,
    today.location_name,
    {{ toast_money('today.net_sales') }} as net_sales,
    today.orders_count,
    {{ toast_money(toast_safe_divide('today.net_sales', 'today.orders_count')) }} as avg_order_value,
    {{ toast_money('today.net_sales_7d') }} as net_sales_7d,
    {{ toast_money('today.net_sales - prior_week.net_sales') }} as net_sales_vs_prior_week,
    {{ toast_safe_divide('today.tip_amount', 'today.net_sales') }} as tip_rate,
    {{ toast_safe_divide('operations.card_amount', 'operations.captured_amount') }} as card_payment_share,
    operations.avg_ticket_minutes,
    {{ toast_money('operations.labor_hours') }} as labor_hours,
    {{ toast_money('operations.labor_cost') }} as labor_cost,
    {{ toast_safe_divide('operations.labor_cost', 'today.net_sales') }} as labor_cost_pct,
    {{ toast_safe_divide('today.net_sales', 'operations.labor_hours') }} as sales_per_labor_hour,
    {{ toast_money('operations.cash_over_short') }} as cash_over_short,
    today.region,
    today.is_known_location
from rolling as today
left join rolling as prior_week
    on
        today.location_id = prior_week.location_id
        and prior_week.day_number = today.day_number - 7
left join operations
    on
        today.location_id = operations.location_id
        and today.business_date = operations.business_date
where {{ toast_in_window('today.business_date') }}
