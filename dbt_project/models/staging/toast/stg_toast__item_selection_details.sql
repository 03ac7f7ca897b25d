with source as (

    select * from {{ source('toast_raw', 'item_selection_details') }}

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
        {{ toast_text('item_id') }} as item_id,
        {{ toast_text('master_id') }} as master_id,
        {{ toast_text('sku') }} as sku,
        {{ toast_text('plu') }} as plu,
        {{ toast_text('menu_item') }} as menu_item,
        {{ toast_text('menu_subgroups') }} as menu_subgroups,
        {{ toast_text('menu_group') }} as menu_group,
        {{ toast_text('menu') }} as menu,
        {{ toast_text('sales_category') }} as sales_category,
        {{ toast_decimal('gross_price') }} as gross_price,
        {{ toast_decimal('discount') }} as discount,
        {{ toast_decimal('net_price') }} as net_price,
        {{ toast_decimal('quantity') }} as quantity,
        {{ toast_decimal('tax') }} as tax,
        {{ toast_bool('voided') }} as is_voided,
        {{ toast_bool('deferred') }} as is_deferred,
        {{ toast_bool('tax_exempt') }} as is_tax_exempt,
        {{ toast_text('tax_inclusion_option') }} as tax_inclusion_option,
        {{ toast_text('dining_option_tax') }} as dining_option_tax,
        {{ toast_text('tab_name') }} as tab_name,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
