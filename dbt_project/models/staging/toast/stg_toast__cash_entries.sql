with source as (

    select * from {{ source('toast_raw', 'cash_entries') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('location') }} as location_name,
        {{ toast_text('entry_id') }} as entry_id,
        {{ toast_timestamp('created_date') }} as created_at,
        {{ toast_text('action') }} as action,
        {{ toast_decimal('amount') }} as amount,
        {{ toast_text('cash_drawer') }} as cash_drawer,
        {{ toast_text('payout_reason') }} as payout_reason,
        {{ toast_text('no_sale_reason') }} as no_sale_reason,
        {{ toast_text('comment') }} as comment,
        {{ toast_text('employee') }} as employee,
        {{ toast_text('employee_2') }} as employee_2,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
