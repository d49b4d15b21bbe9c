"""Factor definitions (behavior factors, the GAN+GRU factor).

The cross-sectional preprocessing (winsorize, standardize, neutralize) lives one layer down in
:mod:`quantbook.preprocess`.
"""
