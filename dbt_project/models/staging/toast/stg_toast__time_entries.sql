with source as (

    select * from {{ source('toast_raw', 'time_entries') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('location') }} as location_name,
        {{ toast_text('location_code') }} as location_code,
        {{ toast_text('time_entry_id') }} as time_entry_id,
        {{ toast_text('time_entry_guid') }} as time_entry_guid,
        {{ toast_text('employee_id') }} as employee_id,
        {{ toast_text('employee_guid') }} as employee_guid,
        {{ toast_text('employee_external_id') }} as employee_external_id,
        {{ toast_text('employee') }} as employee,
        {{ toast_text('job_id') }} as job_id,
        {{ toast_text('job_guid') }} as job_guid,
        {{ toast_text('job_code') }} as job_code,
        {{ toast_text('job_title') }} as job_title,
        {{ toast_timestamp('in_date') }} as clock_in_at,
        {{ toast_timestamp('out_date') }} as clock_out_at,
        {{ toast_decimal('total_hours') }} as total_hours,
        {{ toast_decimal('unpaid_break_time') }} as unpaid_break_time,
        {{ toast_decimal('paid_break_time') }} as paid_break_time,
        {{ toast_decimal('payable_hours') }} as payable_hours,
        {{ toast_decimal('cash_tips_declared') }} as cash_tips_declared,
        {{ toast_decimal('non_cash_tips') }} as non_cash_tips,
        {{ toast_decimal('total_gratuity') }} as total_gratuity,
        {{ toast_decimal('total_tips') }} as total_tips,
        {{ toast_decimal('tips_withheld') }} as tips_withheld,
        {{ toast_decimal('wage') }} as wage,
        {{ toast_decimal('regular_hours') }} as regular_hours,
        {{ toast_decimal('overtime_hours') }} as overtime_hours,
        {{ toast_decimal('regular_pay') }} as regular_pay,
        {{ toast_decimal('overtime_pay') }} as overtime_pay,
        {{ toast_decimal('total_pay') }} as total_pay,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
