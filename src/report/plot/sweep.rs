//! Sweep trend plot (filled in with sweeps).
