with source as (

    select * from {{ source('toast_raw', 'kitchen_timings') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('location') }} as location_name,
        {{ toast_text('ticket_id') }} as ticket_id,
        {{ toast_text('server') }} as server,
        {{ toast_int('check_number') }} as check_number,
        {{ toast_text('table_name') }} as table_name,
        {{ toast_timestamp('check_opened') }} as check_opened_at,
        {{ toast_text('station') }} as station,
        {{ toast_text('expediter_level') }} as expediter_level,
        {{ toast_timestamp('fired_date') }} as fired_at,
        {{ toast_timestamp('fulfilled_date') }} as fulfilled_at,
        {{ toast_duration_seconds('fulfillment_time') }} as fulfillment_time_seconds,
        {{ toast_text('fulfilled_by') }} as fulfilled_by,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
