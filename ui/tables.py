"""How the page's tables show their numbers: API clients get the numbers, the page shows them in percent."""

from __future__ import annotations

import pandas as pd
# Imported for real, not only for type checkers: gradio reads its callbacks' annotations (to find the gr.Request
# parameter), and an annotation naming a type it cannot resolve made it pass no request at all (pages in English).
from pandas.io.formats.style import Styler

__all__ = ["Styler", "in_percent"]


def in_percent(table: pd.DataFrame, *columns: str, decimals: int = 0) -> Styler:
    """``table`` with ``columns`` (fractions from 0 to 1) shown in percent, a missing value blank.

    A ``gr.Dataframe`` given the result shows the percentages; its API value keeps the numbers.
    """
    return table.style.format({column: f"{{:.{decimals}%}}" for column in columns}, na_rep="")
