"""The Twitter/X error catalog: `catalog.toml`, validated by the pydantic models in `models`,
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

__all__ = [
    "CATALOG_PATH",
    "Catalog",
    "Category",
    "CodeEntry",
    "OddShape",
    "ProblemEntry",
    "Resets",
    "Retry",
    "StatusClass",
    "StatusEntry",
    "load_catalog",
    "parse_catalog",
]
