//! `analytics-sales`: placeholder, being written.
fn main() {}
