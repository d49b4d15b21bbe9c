"""Model inputs built from the store: the 40-day x 18-feature price-volume windows."""

from quantbook.features.price_volume import (
    FEATURE_NAMES,
    FEATURES_VERSION,
    FeatureSpec,
    WindowSet,
    build_windows,
    daily_features,
    load_or_build_windows,
)

__all__ = [
    "FEATURES_VERSION",
    "FEATURE_NAMES",
    "FeatureSpec",
    "WindowSet",
    "build_windows",
    "daily_features",
    "load_or_build_windows",
]
