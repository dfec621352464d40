"""``hydra/sweeper=zip``: the basic sweeper plus ``hydra.sweeper.zip`` lists taken in pairs
(ltx2/experiment/zip_sweep.py)."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override


class ZipSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 zip: Optional[Dict[str, Any]] = None) -> None:  # noqa: A002 - the config key users type
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.zip_params = dict(zip or {})

    def split_arguments(self, overrides: List[Override], max_batch_size: Optional[int]) -> List[List[List[str]]]:
        from ltx2.errors import ConfigError
        from ltx2.experiment.zip_sweep import combine, pairs

        product = BasicSweeper.split_arguments(overrides, None)[0]
        try:
            jobs = combine(pairs(self.zip_params), product, {o.get_key_element() for o in overrides})
        except ConfigError as e:
            print(f"ltx2: invalid config: {e}", file=sys.stderr)
            sys.exit(2)
        size = max_batch_size if max_batch_size and max_batch_size > 0 else max(len(jobs), 1)
        return [jobs[i:i + size] for i in range(0, len(jobs), size)]
