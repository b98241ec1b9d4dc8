"""pandas, optional: the one place ``to_pandas()`` of a run and of the advice asks for it.

storeadvise works without pandas (it reads and writes through Arrow); only a notebook user who asks for
a DataFrame needs it, and without it is told in one line what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from storeadvise.errors import StoreAdviseError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def pandas_frame(data: pa.Table | list[dict[str, Any]]) -> pd.DataFrame:
    """An Arrow table or a list of records as a pandas DataFrame."""
    try:
        import pandas as pd
    except ImportError:
        raise StoreAdviseError("to_pandas() needs pandas: pip install pandas (or storeadvise[notebook])") from None
    if isinstance(data, list):
        return pd.DataFrame.from_records(data)
    return data.to_pandas()
