with source as (

    select * from {{ source('toast_raw', 'all_items_report') }}

),

renamed as (

    select
        _location_id as location_id,
        _business_date as business_date,
        {{ toast_text('master_id') }} as master_id,
        {{ toast_text('item_id') }} as item_id,
        {{ toast_text('parent_id') }} as parent_id,
        {{ toast_text('menu_name') }} as menu_name,
        {{ toast_text('menu_group') }} as menu_group,
        {{ toast_text('subgroup') }} as subgroup,
        {{ toast_text('menu_item') }} as menu_item,
        {{ toast_text('tags') }} as tags,
        {{ toast_decimal('avg_price') }} as avg_price,
        {{ toast_decimal('item_qty_incl_voids') }} as item_qty_incl_voids,
        {{ toast_decimal('pct_of_total_qty_incl_voids') }} as pct_of_total_qty_incl_voids,
        {{ toast_decimal('gross_amount_incl_voids') }} as gross_amount_incl_voids,
        {{ toast_decimal('pct_of_total_amount_incl_voids') }} as pct_of_total_amount_incl_voids,
        {{ toast_decimal('item_qty') }} as item_qty,
        {{ toast_decimal('gross_amount') }} as gross_amount,
        {{ toast_decimal('void_qty') }} as void_qty,
        {{ toast_decimal('void_amount') }} as void_amount,
        {{ toast_decimal('discount_amount') }} as discount_amount,
        {{ toast_decimal('net_amount') }} as net_amount,
        {{ toast_int('orders_count') }} as orders_count,
        {{ toast_decimal('pct_of_total_orders') }} as pct_of_total_orders,
        {{ toast_decimal('pct_qty_group') }} as pct_qty_group,
        {{ toast_decimal('pct_qty_menu') }} as pct_qty_menu,
        {{ toast_decimal('pct_qty_all') }} as pct_qty_all,
        {{ toast_decimal('pct_net_amount_group') }} as pct_net_amount_group,
        {{ toast_decimal('pct_net_amount_menu') }} as pct_net_amount_menu,
        {{ toast_decimal('pct_net_amount_all') }} as pct_net_amount_all,
        _source_file,
        _row_number,
        _loaded_at
    from source

)

select * from renamed
