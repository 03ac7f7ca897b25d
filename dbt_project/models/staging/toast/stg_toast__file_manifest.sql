with source as (

    select * from {{ source('toast_raw', 'file_manifest') }}

),

renamed as (

    select
        location_id,
        business_date,
        entity,
        file_name,
        sha256 as file_sha256,
        size_bytes,
        source_rows,
        encoding,
        landed_at
    from source

)

select * from renamed
