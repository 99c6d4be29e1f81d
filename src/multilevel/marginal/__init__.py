"""After the fit: estimated marginal means and contrasts (R's emmeans).

:func:`emmeans` builds the reference grid of a fit (:mod:`.grid`), averages
its predictions into marginal means and returns an :class:`EMMTable`, from
which pairs and other contrasts (:mod:`.contrasts`) follow with emmeans'
multiplicity adjustments (:mod:`.adjust`).
"""

from .effects import effects
from .emmeans import emmeans, emtrends
from .grid import ReferenceGrid, reference_grid
from .slopes import slopes
from .table import EMMTable

__all__ = ["EMMTable", "ReferenceGrid", "effects", "emmeans", "emtrends", "reference_grid", "slopes"]
