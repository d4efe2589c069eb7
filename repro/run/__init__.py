"""Running: the experiment behind each accuracy cell (experiments), one experiment trained and evaluated
(runner) with its device options (speed), every full run and proxy check of a paper (full_runs, proxy), and
plans resolved without training (plan)."""
