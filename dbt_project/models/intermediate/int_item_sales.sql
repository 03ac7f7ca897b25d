-- Item selections classified for sales metrics, so every mart applies one definition:
-- a sale is an item that is neither voided nor deferred (a deferred item is a gift-card
-- sale, revenue only when redeemed). Net sales = sum of Net Price over sales.
with items as (

    select * from {{ ref('stg_toast__item_selection_details') }}

)

select
    location_id,
    business_date,
    order_id,
    check_id,
    item_selection_id,
    menu_item,
    menu_group,
    sales_category,
    service,
    dining_option,
    coalesce(quantity, 0) as quantity,
    coalesce(net_price, 0) as net_price,
    coalesce(discount, 0) as discount_amount,
    coalesce(is_voided, false) as is_voided,
    coalesce(is_deferred, false) as is_deferred,
    not coalesce(is_voided, false) and not coalesce(is_deferred, false) as is_sale
from items
