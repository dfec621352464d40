"""The experiment machinery: validation, the runner, records, sweeps, the memory planner."""
