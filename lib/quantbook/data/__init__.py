"""Market data: schema, store, calendar and the sources that write stores."""

from quantbook.data.calendar import TradingCalendar
from quantbook.data.store import (
    DataUnavailableError,
    Store,
    StoreNotFoundError,
    StoreWriter,
    open_store,
)

__all__ = ["DataUnavailableError", "Store", "StoreNotFoundError", "StoreWriter", "TradingCalendar", "open_store"]
