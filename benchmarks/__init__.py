"""Performance benchmark of the platform against reference paths on the same files (`make bench`)."""
