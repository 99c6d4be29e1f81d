"""
A two-level classroom model in brms
===================================

The fourth document (``003_3ab92f3bad71b21d.txt``) fits, with brms, test scores
of students (age, female, Black) in classes (size, the teacher's experience,
gender and race, the proportion of Black students), with all four level-1
coefficients varying over classes under a full 4 x 4 covariance (scales times a
correlation matrix, LKJ prior) and class-level predictors on the intercept and
the slopes. Substituting the level-2 equations gives the "flat" formula with
its cross-level interactions; the notes print the gammas with 90% credible
intervals and draw expected scores for white and Black students against the
proportion of Black students in the class, with white and with Black teachers.

The notes' data are not public: the data are simulated (seeded) from
coefficients equal to the notes' posterior means, so the posterior can be
checked against known values (the ``true`` column). The page imports the
simulation from ``examples/`` and so runs from a checkout of the repository.
"""

# %%
import os
import sys
import warnings
from pathlib import Path

import multilevel as ml

# examples/ beside docs/ (sphinx-gallery runs a page from docs/gallery, without __file__)
sys.path.insert(0, str(Path(globals().get("__file__", "page.py")).resolve().parents[2] / "examples"))
from bayes_classroom_brms import FORMULA, main, simulate  # noqa: E402

DRAWS = int(os.environ.get("MULTILEVEL_DOCS_DRAWS", 1000))
print(FORMULA)
print(simulate().head())

# %%
# The flat formula by full Bayes with brms's default priors, summarised with
# 90% intervals as the notes do, the gammas beside the values simulated, and
# the notes' figure: expected scores with 90% intervals for white and Black
# students against the proportion of Black students in the class, with white
# and with Black teachers.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ml.bayes.SamplerWarning)
    post = main(draws=DRAWS)

# %%
# The scales and the 4 x 4 correlation matrix of the class effects
print(post.table(prob=0.9).filter(regex="^(sd|cor)_", axis=0).round(3))

