//! `catalog-registrar`: placeholder, being written.
fn main() {}
