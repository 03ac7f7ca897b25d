with source as (

    select * from {{ source('toast_raw', 'modifiers_selection_details') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('location') }} as location_name,
        {{ toast_text('order_id') }} as order_id,
        {{ toast_int('order_number') }} as order_number,
        {{ toast_timestamp('sent_date') }} as sent_at,
        {{ toast_timestamp('order_date') }} as order_opened_at,
        {{ toast_text('check_id') }} as check_id,
        {{ toast_text('server') }} as server,
        {{ toast_text('table_name') }} as table_name,
        {{ toast_text('dining_area') }} as dining_area,
        {{ toast_text('service') }} as service,
        {{ toast_text('dining_option') }} as dining_option,
        {{ toast_text('item_selection_id') }} as item_selection_id,
        {{ toast_text('modifier_id') }} as modifier_id,
        {{ toast_text('master_id') }} as master_id,
        {{ toast_text('modifier_sku') }} as modifier_sku,
        {{ toast_text('modifier') }} as modifier,
        {{ toast_text('option_group_id') }} as option_group_id,
        {{ toast_text('option_group_name') }} as option_group_name,
        {{ toast_text('parent_menu_selection_item_id') }} as parent_menu_selection_item_id,
        {{ toast_text('parent_menu_selection') }} as parent_menu_selection,
        {{ toast_text('sales_category') }} as sales_category,
        {{ toast_decimal('gross_price') }} as gross_price,
        {{ toast_decimal('discount') }} as discount,
        {{ toast_decimal('net_price') }} as net_price,
        {{ toast_decimal('quantity') }} as quantity,
        {{ toast_bool('voided') }} as is_voided,
        {{ toast_text('void_reason_id') }} as void_reason_id,
        {{ toast_text('void_reason') }} as void_reason,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
