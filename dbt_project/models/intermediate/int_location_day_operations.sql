-- Operations of each location and business date beside sales: card share of captured
-- payments, kitchen ticket times, labor from time entries, and the cash drawer close-out.
-- NULL where the day delivered nothing to measure (no kitchen file, no time entries).
with location_days as (

    select * from {{ ref('int_location_days') }}

),

payments as (

    select
        location_id,
        business_date,
        sum(amount) as captured_amount,
        sum(case when upper(payment_type) in ('CREDIT', 'DEBIT') then amount else 0 end) as card_amount
    from {{ ref('stg_toast__payment_details') }}
    where
        upper(status) = 'CAPTURED'
        and voided_at is null
    group by location_id, business_date

),

kitchen as (

    select
        location_id,
        business_date,
        count(*) as kitchen_tickets,
        avg({{ toast_minutes_between('fired_at', 'fulfilled_at') }}) as avg_ticket_minutes
    from {{ ref('stg_toast__kitchen_timings') }}
    where
        fired_at is not null
        and fulfilled_at >= fired_at
    group by location_id, business_date

),

labor as (

    select
        location_id,
        business_date,
        count(*) as time_entries,
        sum(coalesce(payable_hours, total_hours, 0)) as labor_hours,
        sum(coalesce(total_pay, 0)) as labor_cost
    from {{ ref('stg_toast__time_entries') }}
    group by location_id, business_date

),

cash as (

    -- Close-out overage adds to the drawer, shortage takes from it, exact is zero,
    -- whatever sign the file prints the amount with.
    select
        location_id,
        business_date,
        sum(
            case upper(action)
                when 'CLOSE_OUT_OVERAGE' then abs(coalesce(amount, 0))
                when 'CLOSE_OUT_SHORTAGE' then -abs(coalesce(amount, 0))
                else 0
            end
        ) as cash_over_short
    from {{ ref('stg_toast__cash_entries') }}
    where upper(action) in ('CLOSE_OUT_EXACT', 'CLOSE_OUT_OVERAGE', 'CLOSE_OUT_SHORTAGE')
    group by location_id, business_date

)

select
    location_days.location_id,
    location_days.business_date,
    payments.captured_amount,
    payments.card_amount,
    kitchen.kitchen_tickets,
    kitchen.avg_ticket_minutes,
    labor.time_entries,
    labor.labor_hours,
    labor.labor_cost,
    cash.cash_over_short
from location_days
left join payments
    on
        location_days.location_id = payments.location_id
        and location_days.business_date = payments.business_date
left join kitchen
    on
        location_days.location_id = kitchen.location_id
        and location_days.business_date = kitchen.business_date
left join labor
    on
        location_days.location_id = labor.location_id
        and location_days.business_date = labor.business_date
left join cash
    on
        location_days.location_id = cash.location_id
        and location_days.business_date = cash.business_date
