//! Sales per channel, from the per-order rows of the view.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sale::{OrderSale, SaleStatus};

/// What one channel sold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChannelTotals {
    /// Orders placed through the channel, whatever became of them.
    pub orders: u64,
    /// Still waiting for their credit decision.
    pub placed: u64,
    pub approved: u64,
    pub rejected: u64,
    pub cancelled: u64,
    /// Value of the approved orders that were not cancelled.
    pub approved_cents: u64,
}

impl ChannelTotals {
    fn add(&mut self, sale: &OrderSale) {
        self.orders += 1;
        match sale.status {
            SaleStatus::Placed => self.placed += 1,
            SaleStatus::Approved => {
                self.approved += 1;
                self.approved_cents += sale.amount_cents;
            }
            SaleStatus::Rejected => self.rejected += 1,
            SaleStatus::Cancelled => self.cancelled += 1,
        }
    }
}

/// Totals per channel; `None` gathers the orders placed without one (and,
/// until their `OrderPlaced` arrives, rows whose channel is not known yet).
pub fn totals_by_channel<'a>(
    sales: impl IntoIterator<Item = &'a OrderSale>,
) -> BTreeMap<Option<String>, ChannelTotals> {
    let mut totals: BTreeMap<Option<String>, ChannelTotals> = BTreeMap::new();
    for sale in sales {
        totals.entry(sale.channel.clone()).or_default().add(sale);
    }
    totals
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ids::{CustomerId, OrderId};

    fn sale(channel: Option<&str>, status: SaleStatus, amount_cents: u64) -> OrderSale {
        OrderSale {
            order_id: OrderId::generate(),
            customer_id: CustomerId::generate(),
            amount_cents,
            channel: channel.map(Into::into),
            status,
            last_sequence: 1,
            placed: true,
        }
    }

    #[test]
    fn counts_each_channels_orders_by_status_and_sums_what_stays_approved() {
        let sales = [
            sale(Some("web"), SaleStatus::Approved, 1000),
            sale(Some("web"), SaleStatus::Approved, 500),
            sale(Some("web"), SaleStatus::Cancelled, 700),
            sale(Some("mobile"), SaleStatus::Rejected, 9000),
            sale(None, SaleStatus::Placed, 10),
        ];

        let totals = totals_by_channel(&sales);

        assert_eq!(totals.len(), 3);
        assert_eq!(
            totals[&Some("web".to_string())],
            ChannelTotals { orders: 3, approved: 2, cancelled: 1, approved_cents: 1500, ..Default::default() }
        );
        assert_eq!(totals[&Some("mobile".to_string())], ChannelTotals { orders: 1, rejected: 1, ..Default::default() });
        assert_eq!(totals[&None], ChannelTotals { orders: 1, placed: 1, ..Default::default() });
    }

    #[test]
    fn has_no_channels_without_sales() {
        assert!(totals_by_channel(&[]).is_empty());
    }
}
