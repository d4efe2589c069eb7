"""Paper data and its audit: the papers' tables and claims as data (`papers`), arithmetic over printed
numbers (`numbers`, `expr`), the claims checked against the tables (`claims`), cells judged against
measurements (`verdicts`) and the findings that explain what does not hold (`findings`)."""
