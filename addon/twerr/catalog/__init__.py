"""The Twitter/X error catalog (`catalog.toml`), and X's rate limits and prices per endpoint
(`limits.toml`, `prices.toml`): validated by the pydantic models in `models` and `quotas`,
loaded once."""

from twerr.catalog.models import CATALOG_PATH
from twerr.catalog.models import Catalog
from twerr.catalog.models import Category
from twerr.catalog.models import CodeEntry
from twerr.catalog.models import OddShape
from twerr.catalog.models import ProblemEntry
from twerr.catalog.models import Resets
from twerr.catalog.models import Retry
from twerr.catalog.models import StatusClass
from twerr.catalog.models import StatusEntry
from twerr.catalog.models import load_catalog
from twerr.catalog.models import parse_catalog
from twerr.catalog.quotas import LIMITS_PATH
from twerr.catalog.quotas import PRICES_PATH
from twerr.catalog.quotas import EndpointLimits
from twerr.catalog.quotas import Limits
from twerr.catalog.quotas import LimitTable
from twerr.catalog.quotas import Price
from twerr.catalog.quotas import PriceTable
from twerr.catalog.quotas import PriceVariant
from twerr.catalog.quotas import load_limits
from twerr.catalog.quotas import load_prices
from twerr.catalog.quotas import parse_limits
from twerr.catalog.quotas import parse_prices

__all__ = [
    "CATALOG_PATH",
    "LIMITS_PATH",
    "PRICES_PATH",
    "Catalog",
    "Category",
    "CodeEntry",
    "EndpointLimits",
    "LimitTable",
    "Limits",
    "OddShape",
    "Price",
    "PriceTable",
    "PriceVariant",
    "ProblemEntry",
    "Resets",
    "Retry",
    "StatusClass",
    "StatusEntry",
    "load_catalog",
    "load_limits",
    "load_prices",
    "parse_catalog",
    "parse_limits",
    "parse_prices",
]
