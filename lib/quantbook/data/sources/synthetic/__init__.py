"""The ``synthetic`` source: a deterministic simulated A-share market with planted effects.

See ``data/README.md`` for the mechanisms and target strengths of the planted effects.
"""

from quantbook.data.sources.synthetic.build import SOURCE_VERSION, build_store, regenerate_minutes
from quantbook.data.sources.synthetic.presets import PRESETS, Effects, Preset, get_preset

__all__ = [
    "PRESETS",
    "SOURCE_VERSION",
    "Effects",
    "Preset",
    "build_store",
    "get_preset",
    "regenerate_minutes",
]
