with source as (

    select * from {{ source('toast_raw', 'order_details') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('location') }} as location_name,
        {{ toast_text('order_id') }} as order_id,
        {{ toast_int('order_number') }} as order_number,
        {{ toast_text('checks') }} as checks,
        {{ toast_timestamp('opened') }} as opened_at,
        {{ toast_int('guest_count') }} as guest_count,
        {{ toast_text('tab_names') }} as tab_names,
        {{ toast_text('server') }} as server,
        {{ toast_text('table_name') }} as table_name,
        {{ toast_text('revenue_center') }} as revenue_center,
        {{ toast_text('dining_area') }} as dining_area,
        {{ toast_text('service') }} as service,
        {{ toast_text('dining_options') }} as dining_options,
        {{ toast_decimal('discount_amount') }} as discount_amount,
        {{ toast_decimal('amount') }} as amount,
        {{ toast_decimal('tax') }} as tax,
        {{ toast_decimal('tip') }} as tip,
        {{ toast_decimal('gratuity') }} as gratuity,
        {{ toast_decimal('total') }} as total,
        {{ toast_bool('voided') }} as is_voided,
        {{ toast_timestamp('paid') }} as paid_at,
        {{ toast_timestamp('closed') }} as closed_at,
        {{ toast_duration_seconds('duration_opened_to_paid') }} as duration_opened_to_paid_seconds,
        {{ toast_text('order_source') }} as order_source,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
