"""What the tests share that is not a fixture: the workspace a test builds in, the real servers
and browser they start, the independent computations they compare with, the helpers that run
the pipeline, and the suite's own time report. No test lives here."""
