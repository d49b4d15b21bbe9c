"""Names shared by the data sources and the models: Shenwan industries and the style factors.

This module sits in the data layer and imports nothing from the project, so that a data source
(the synthetic market writes the true style returns) and a model (:mod:`quantbook.risk`) can
name the same things without the data layer importing a model.
"""

from __future__ import annotations

__all__ = ["STYLE_NAMES", "SW_L1"]

#: Shenwan 2021 level-1 industries: 2-digit code -> (Chinese name, English name).
SW_L1: dict[str, tuple[str, str]] = {
    "11": ("农林牧渔", "Agriculture"),
    "22": ("基础化工", "Basic Chemicals"),
    "23": ("钢铁", "Steel"),
    "24": ("有色金属", "Non-ferrous Metals"),
    "27": ("电子", "Electronics"),
    "28": ("汽车", "Automobiles"),
    "33": ("家用电器", "Household Appliances"),
    "34": ("食品饮料", "Food & Beverage"),
    "35": ("纺织服饰", "Textiles & Apparel"),
    "36": ("轻工制造", "Light Manufacturing"),
    "37": ("医药生物", "Pharma & Biotech"),
    "41": ("公用事业", "Utilities"),
    "42": ("交通运输", "Transportation"),
    "43": ("房地产", "Real Estate"),
    "45": ("商贸零售", "Retail"),
    "46": ("社会服务", "Social Services"),
    "48": ("银行", "Banks"),
    "49": ("非银金融", "Non-bank Financials"),
    "51": ("综合", "Conglomerates"),
    "61": ("建筑材料", "Building Materials"),
    "62": ("建筑装饰", "Construction & Decoration"),
    "63": ("电力设备", "Power Equipment"),
    "64": ("机械设备", "Machinery"),
    "65": ("国防军工", "Defence"),
    "71": ("计算机", "Computers"),
    "72": ("传媒", "Media"),
    "73": ("通信", "Telecom"),
    "74": ("煤炭", "Coal"),
    "75": ("石油石化", "Petroleum & Petrochemicals"),
    "76": ("环保", "Environmental Protection"),
    "77": ("美容护理", "Beauty & Personal Care"),
}

#: The 15 styles, in model order; the synthetic market's truth tables
#: and :mod:`quantbook.risk` use these names.
STYLE_NAMES: tuple[str, ...] = (
    "size",
    "midcap",
    "beta",
    "residual_volatility",
    "momentum",
    "short_term_reversal",
    "liquidity",
    "book_to_price",
    "earnings_yield",
    "dividend_yield",
    "growth",
    "leverage",
    "profitability",
    "investment",
    "earnings_variability",
)
