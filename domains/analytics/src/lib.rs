//! The analytics domain: a read-side view of sales built from the orders product.
