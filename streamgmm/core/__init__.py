"""Pure numeric core (numpy/scipy only): parameters, statistics, E-step, M-step, init."""
