-- One row per location and business date that delivered files, closed days (header-only
-- files) included, with the location's reference attributes. Locations missing from the
-- `locations` seed are kept and flagged, named as Toast prints them in OrderDetails.
with deliveries as (

    select
        location_id,
        business_date,
        count(*) as files_delivered,
        sum(source_rows) as source_rows
    from {{ ref('stg_toast__file_manifest') }}
    group by location_id, business_date

),

printed_names as (

    select
        location_id,
        business_date,
        max(location_name) as location_name
    from {{ ref('stg_toast__order_details') }}
    group by location_id, business_date

),

locations as (

    select * from {{ ref('locations') }}

)

select
    deliveries.location_id,
    deliveries.business_date,
    locations.region,
    locations.time_zone,
    locations.opened_on,
    deliveries.files_delivered,
    deliveries.source_rows,
    coalesce(locations.location_name, printed_names.location_name, deliveries.location_id) as location_name,
    locations.export_id is not null as is_known_location,
    deliveries.source_rows = 0 as is_closed_day
from deliveries
left join locations
    on deliveries.location_id = locations.export_id
left join printed_names
    on
        deliveries.location_id = printed_names.location_id
        and deliveries.business_date = printed_names.business_date
