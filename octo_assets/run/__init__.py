"""`make run` (`python -m octo_assets.run`): every asset, for every day the landing area holds.

The work is in octo_assets.run.pipeline; this package imports it only when asked, so that
`python -m octo_assets.run` can turn a wrong setting met while the definitions load into one
sentence (octo_assets.run.__main__), and the readings workers, spawned processes, start light.
"""

from importlib import import_module


def __getattr__(name: str):
    return getattr(import_module("octo_assets.run.pipeline"), name)
