with source as (

    select * from {{ source('toast_raw', 'payment_details') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('location') }} as location_name,
        {{ toast_text('payment_id') }} as payment_id,
        {{ toast_text('order_id') }} as order_id,
        {{ toast_int('order_number') }} as order_number,
        {{ toast_timestamp('paid_date') }} as paid_at,
        {{ toast_timestamp('order_date') }} as order_opened_at,
        {{ toast_text('check_id') }} as check_id,
        {{ toast_int('check_number') }} as check_number,
        {{ toast_text('tab_name') }} as tab_name,
        {{ toast_text('server') }} as server,
        {{ toast_text('table_name') }} as table_name,
        {{ toast_text('dining_area') }} as dining_area,
        {{ toast_text('service') }} as service,
        {{ toast_text('dining_option') }} as dining_option,
        {{ toast_text('house_account_number') }} as house_account_number,
        {{ toast_decimal('amount') }} as amount,
        {{ toast_decimal('tip') }} as tip,
        {{ toast_decimal('gratuity') }} as gratuity,
        {{ toast_decimal('total') }} as total,
        {{ toast_decimal('swiped_card_amount') }} as swiped_card_amount,
        {{ toast_decimal('keyed_card_amount') }} as keyed_card_amount,
        {{ toast_decimal('amount_tendered') }} as amount_tendered,
        {{ toast_text('refunded') }} as refunded,
        {{ toast_timestamp('refund_date') }} as refunded_at,
        {{ toast_decimal('refund_amount') }} as refund_amount,
        {{ toast_decimal('refund_tip_amount') }} as refund_tip_amount,
        {{ toast_text('void_user') }} as void_user,
        {{ toast_text('void_approver') }} as void_approver,
        {{ toast_timestamp('void_date') }} as voided_at,
        {{ toast_text('status') }} as status,
        {{ toast_text('payment_type') }} as payment_type,
        {{ toast_text('cash_drawer') }} as cash_drawer,
        {{ toast_text('card_type') }} as card_type,
        {{ toast_text('other_type') }} as other_type,
        {{ toast_text('email') }} as email,
        {{ toast_text('phone') }} as phone,
        {{ toast_text('last_4_card_digits') }} as last_4_card_digits,
        {{ toast_decimal('card_fees') }} as card_fees,
        {{ toast_text('room_info') }} as room_info,
        {{ toast_text('receipt') }} as receipt,
        {{ toast_text('source') }} as source,
        {{ toast_text('last_4_gift_card_digits') }} as last_4_gift_card_digits,
        {{ toast_text('first_5_gift_card_digits') }} as first_5_gift_card_digits,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
