"""ltx2's Hydra plugins (discovered by Hydra in the ``hydra_plugins`` namespace package): the ``zip`` sweeper and
the warm-worker launcher. The logic lives in ltx2/experiment/; these modules only adapt it to Hydra's plugin API
and stay light to import (Hydra imports every plugin module at start-up)."""
