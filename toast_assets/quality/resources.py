"""The quality policy: thresholds the checks apply, set per group through the environment."""

import dagster as dg


class QualityPolicy(dg.ConfigurableResource):
    """How strict the checks are. Defaults suit a restaurant group's nightly exports."""

    # Share of a partition's source rows that may sit in quarantine before the contract
    # check fails and the marts of the run are held back.
    quarantine_threshold: float = 0.001
    # Relative tolerance when files that describe the same sales are compared (items vs
    # orders vs payments vs product mix), per location and date.
    agreement_tolerance: float = 0.01
    # Same-weekday history used by the anomaly checks, and how far (in robust z-scores,
    # MAD-based) a value may stray before it is flagged.
    anomaly_weeks: int = 6
    anomaly_min_history: int = 3
    anomaly_threshold: float = 4.0
    # A same-weekday history of a few points can have a MAD near zero, which would turn an
    # ordinary 10% swing into a huge z-score: the MAD is never taken below this share of the
    # median (with 10% and a threshold of 4, a flat history flags changes of about 60% or
    # more; a 90% drop is flagged whatever the history).
    anomaly_mad_floor: float = 0.1
    # How far back (days) a location's deliveries make it expected on a date when neither
    # the SFTP export ids nor the locations reference name it.
    completeness_lookback_days: int = 28
