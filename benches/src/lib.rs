//! Criterion benches for hoody live in `benches/`; see docs/PERFORMANCE.md.
