"""Factor definitions (behavior factors, the GAN+GRU factor) and their on-disk cache.

The cross-sectional preprocessing (winsorize, standardize, neutralize) lives one layer down in
:mod:`quantbook.preprocess`.
"""
