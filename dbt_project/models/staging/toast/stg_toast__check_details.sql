with source as (

    select * from {{ source('toast_raw', 'check_details') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('customer_id') }} as customer_id,
        {{ toast_text('customer') }} as customer,
        {{ toast_text('customer_phone') }} as customer_phone,
        {{ toast_text('customer_email') }} as customer_email,
        {{ toast_text('location_code') }} as location_code,
        {{ toast_date('opened_date') }} as opened_on,
        {{ toast_time('opened_time') }} as opened_time,
        {{ toast_timestamp_from_parts(toast_date('opened_date'), toast_time('opened_time')) }} as opened_at,
        {{ toast_text('item_description') }} as item_description,
        {{ toast_text('server') }} as server,
        {{ toast_decimal('tax') }} as tax,
        {{ toast_text('tender') }} as tender,
        {{ toast_text('check_id') }} as check_id,
        {{ toast_int('check_number') }} as check_number,
        {{ toast_decimal('total') }} as total,
        {{ toast_text('customer_family') }} as customer_family,
        {{ toast_int('table_size') }} as table_size,
        {{ toast_decimal('discount_amount') }} as discount_amount,
        {{ toast_text('discount_reason') }} as discount_reason,
        {{ toast_text('link') }} as link,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
