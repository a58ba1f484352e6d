//! The reference workload: customers with credit limits, orders placed
//! against them through several sales channels (some over the limit),
//! approved orders cancelled, events redelivered on purpose; then the
//! invariants every run must keep, the analytics sales view's included.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use analytics::{ChannelTotals, OrderSale, SaleStatus, totals_by_channel};
use futures::stream::{self, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use mesh::envelope::Envelope;
use serde::Serialize;

use crate::observe::{Observer, OrderRow};
use crate::reference::Client;

/// The channels orders are placed through, in turn (`None`: the client
/// names none): mostly web, then mobile, some partner, some unnamed.
const CHANNELS: [Option<&str>; 10] = [
    Some("web"),
    Some("mobile"),
    Some("web"),
    None,
    Some("partner"),
    Some("web"),
    Some("mobile"),
    Some("web"),
    None,
    Some("mobile"),
];

/// How many ids of orders not final the summary lists.
pub const NOT_FINAL_SHOWN: usize = 20;

/// How the sales view lists orders placed without a channel (not a valid
/// channel name, so it cannot clash with one).
pub const NO_CHANNEL: &str = "(none)";

#[derive(Debug, Clone)]
pub struct Workload {
    pub customers: usize,
    pub orders: usize,
    /// One approved order in `cancel_every` is cancelled.
    pub cancel_every: usize,
    /// Events sent a second time into consumer queues, as SNS may do.
    pub redeliveries: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long the mesh may take to settle after each phase.
    pub settle_timeout: Duration,
    pub show_progress: bool,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            customers: 100,
            orders: 1_000,
            cancel_every: 5,
            redeliveries: 50,
            concurrency: 8,
            // A deadline, not a wait: the emulator serves a FIFO subscription
            // (customers' strict order) one batch at a time.
            settle_timeout: Duration::from_secs(900),
            show_progress: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub customers: usize,
    pub orders_placed: usize,
    pub approved: usize,
    pub rejected: usize,
    pub cancelled: usize,
    /// Orders not final (still pending, or of a status the workload does not know).
    pub pending: usize,
    /// The first [`NOT_FINAL_SHOWN`] of them by id: where to start looking
    /// (`mesh sagas stuck orders` says which wait for what).
    pub not_final: Vec<String>,
    /// Records on each product's Kinesis stream (a retried publish counts twice).
    pub events_relayed: BTreeMap<String, usize>,
    pub unique_events_relayed: usize,
    pub duplicate_deliveries_redelivered: usize,
    pub duplicate_deliveries_suppressed: usize,
    pub dlq_messages: BTreeMap<String, u64>,
    /// Rows in the analytics domain's sales view.
    pub sales_view_rows: usize,
    /// The sales view summed per channel ([`NO_CHANNEL`]: none named).
    pub sales_by_channel: BTreeMap<String, ChannelTotals>,
    /// From `OrderPlaced` to the saga's decision, by the events' own times.
    pub decision_latency: Latency,
    pub elapsed_seconds: f64,
    pub violations: Vec<String>,
}

impl Summary {
    /// Counts `orders` by status (the counts and ids of an earlier tally
    /// are replaced) and keeps the first ids of those not final.
    pub fn tally(&mut self, orders: &[OrderRow]) {
        (self.approved, self.rejected, self.cancelled, self.pending) = (0, 0, 0, 0);
        let mut not_final = Vec::new();
        for order in orders {
            match order.status.as_str() {
                "approved" => self.approved += 1,
                "rejected" => self.rejected += 1,
                "cancelled" => self.cancelled += 1,
                _ => {
                    self.pending += 1;
                    not_final.push(order.id.clone());
                }
            }
        }
        not_final.sort();
        not_final.truncate(NOT_FINAL_SHOWN);
        self.not_final = not_final;
    }

    /// The violation orders not final are, naming them; `None` when every
    /// order is final.
    pub fn not_final_violation(&self) -> Option<String> {
        (self.pending > 0).then(|| {
            let more = self.pending - self.not_final.len();
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            format!("{} orders never reached a final state: {}{more}", self.pending, self.not_final.join(", "))
        })
    }

    pub fn print(&self) {
        println!("\nReference mesh summary");
        println!("  customers                      {}", self.customers);
        println!("  orders placed                  {}", self.orders_placed);
        println!("    approved (still active)      {}", self.approved);
        println!("    rejected                     {}", self.rejected);
        println!("    cancelled after approval     {}", self.cancelled);
        println!("    not final                    {}", self.pending);
        if !self.not_final.is_empty() {
            let more = if self.pending > self.not_final.len() { ", ..." } else { "" };
            println!("      {}{more}", self.not_final.join(", "));
        }
        for (stream, count) in &self.events_relayed {
            println!("  events relayed to {stream:<12} {count}");
        }
        println!("  unique events relayed          {}", self.unique_events_relayed);
        println!(
            "  duplicate deliveries suppressed {} of {} redelivered",
            self.duplicate_deliveries_suppressed, self.duplicate_deliveries_redelivered
        );
        for (queue, count) in &self.dlq_messages {
            println!("  messages in {queue:<26} {count}");
        }
        println!("  sales view (analytics)         {} rows", self.sales_view_rows);
        println!("    channel      orders  approved  rejected  cancelled  pending  approved value");
        for (channel, t) in &self.sales_by_channel {
            println!(
                "    {channel:<10} {:>8} {:>9} {:>9} {:>10} {:>8} {:>14.2}",
                t.orders,
                t.approved,
                t.rejected,
                t.cancelled,
                t.placed,
                t.approved_cents as f64 / 100.0
            );
        }
        let l = &self.decision_latency;
        println!(
            "  order → decision latency       p50 {} ms, p90 {} ms, p99 {} ms, max {} ms ({} orders)",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms, l.samples
        );
        println!("  elapsed                        {:.1} s", self.elapsed_seconds);
        if self.violations.is_empty() {
            println!("\nAll invariants hold.");
        } else {
            println!("\nInvariant violations:");
            for violation in &self.violations {
                println!("  - {violation}");
            }
        }
    }
}

/// A small deterministic generator: the same workload on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn bar(show: bool, length: usize, message: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length as u64);
    let style = ProgressStyle::with_template("{msg:<34} [{bar:30}] {pos}/{len} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(message.to_string());
    bar
}

pub async fn run(client: &Client<'_>, observer: &Observer, workload: &Workload) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let endpoints = client.endpoints().clone();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // 1. Customers, with limits that some of their orders will exceed.
    let limits: Vec<u64> = (0..workload.customers).map(|_| rng.between(10_000, 60_000)).collect();
    let progress = bar(workload.show_progress, workload.customers, "registering customers");
    let customers: Vec<String> = stream::iter(limits.iter().enumerate())
        .map(|(n, limit)| {
            let progress = progress.clone();
            async move {
                let id = client.register_customer(&format!("customer {n}"), *limit).await;
                progress.inc(1);
                id
            }
        })
        .buffered(workload.concurrency)
        .try_collect()
        .await?;
    progress.finish();

    // 2. Orders.
    let orders: Vec<(usize, u64, Option<&str>)> = (0..workload.orders)
        .map(|n| {
            let customer = rng.next() as usize % customers.len().max(1);
            (customer, rng.between(1_000, 9_000), CHANNELS[n % CHANNELS.len()])
        })
        .collect();
    let progress = bar(workload.show_progress, orders.len(), "placing orders");
    let placed: Vec<String> = stream::iter(orders.iter())
        .map(|(customer, amount, channel)| {
            let (progress, customer_id) = (progress.clone(), &customers[*customer]);
            async move {
                let id = client.place_order_in(customer_id, *amount, *channel).await;
                progress.inc(1);
                id
            }
        })
        .buffer_unordered(workload.concurrency)
        .try_collect()
        .await?;
    progress.finish();

    // 3. The saga decides every order.
    let decided =
        settle(observer, &endpoints.orders_state_table, placed.len(), workload, "saga deciding orders").await?;

    // 4. Cancel some approved orders; customers release their credit.
    let to_cancel: Vec<String> = decided
        .iter()
        .filter(|o| o.status == "approved")
        .step_by(workload.cancel_every.max(1))
        .map(|o| o.id.clone())
        .collect();
    let progress = bar(workload.show_progress, to_cancel.len(), "cancelling approved orders");
    stream::iter(to_cancel.iter())
        .map(|id| {
            let progress = progress.clone();
            async move {
                let result = client.cancel_order(id).await;
                progress.inc(1);
                result
            }
        })
        .buffer_unordered(workload.concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    progress.finish();

    // 5. Redeliver events the consumers have already applied: only once
    // they have applied everything, or a late first delivery would look
    // like a redelivery that changed state.
    let settled = wait_for_quiet(observer, &endpoints.queues, workload).await?;
    wait_for_credit(observer, client, workload).await?;
    wait_for_sales(observer, client, workload).await?;
    let before = snapshot(observer, client).await?;
    let orders_events = observer.stream_events(&endpoints.orders_stream).await?;
    let customers_events = observer.stream_events(&endpoints.customers_stream).await?;
    let redelivered = redeliver(observer, client, &orders_events, &customers_events, workload.redeliveries).await?;
    wait_for_quiet(observer, &endpoints.queues, workload).await?;
    wait_for_sales(observer, client, workload).await?;
    let after = snapshot(observer, client).await?;

    // 6. What happened, and whether it is right.
    let final_orders = observer.orders(&endpoints.orders_state_table).await?;
    let sales: Vec<OrderSale> =
        observer.sales(&endpoints.analytics_state_table).await?.into_iter().map(|(sale, _)| sale).collect();
    let mut summary = Summary {
        customers: customers.len(),
        orders_placed: placed.len(),
        duplicate_deliveries_redelivered: redelivered,
        duplicate_deliveries_suppressed: if before == after { redelivered } else { 0 },
        ..Summary::default()
    };
    summary.tally(&final_orders);
    let orders_events = observer.stream_events(&endpoints.orders_stream).await?;
    let customers_events = observer.stream_events(&endpoints.customers_stream).await?;
    summary.events_relayed.insert("order-events".into(), orders_events.len());
    summary.events_relayed.insert("customer-credit".into(), customers_events.len());
    summary.unique_events_relayed =
        orders_events.iter().chain(&customers_events).map(|e| e.id).collect::<HashSet<_>>().len();
    summary.decision_latency = decision_latency(&orders_events);
    summary.sales_view_rows = sales.len();
    summary.sales_by_channel = totals_by_channel(&sales)
        .into_iter()
        .map(|(channel, totals)| (channel.unwrap_or_else(|| NO_CHANNEL.to_owned()), totals))
        .collect();
    for (name, url) in &endpoints.dead_letters {
        summary.dlq_messages.insert(name.clone(), observer.queue_depth(url).await?);
    }
    let redelivery = match (settled, before == after) {
        (false, _) => Redelivery::NotSettled(workload.settle_timeout),
        (true, true) => Redelivery::Suppressed,
        (true, false) => Redelivery::ChangedState,
    };
    summary.violations = check_invariants(&summary, &final_orders, observer, client, redelivery).await?;
    summary.violations.extend(sales_mismatches(&final_orders, &sales));
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Polls the orders table until `expected` orders are all decided.
async fn settle(
    observer: &Observer,
    table: &str,
    expected: usize,
    workload: &Workload,
    message: &str,
) -> anyhow::Result<Vec<OrderRow>> {
    let progress = bar(workload.show_progress, expected, message);
    let deadline = Instant::now() + workload.settle_timeout;
    loop {
        let orders = observer.orders(table).await?;
        let decided = orders.iter().filter(|o| o.status != "pending").count();
        progress.set_position(decided as u64);
        if decided >= expected || Instant::now() > deadline {
            progress.finish();
            return Ok(orders);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until every consumer queue is empty (nothing visible or in flight).
pub async fn wait_for_quiet(
    observer: &Observer,
    queues: &[(String, String)],
    workload: &Workload,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + workload.settle_timeout;
    let mut quiet_polls = 0;
    while Instant::now() < deadline {
        let mut depth = 0;
        for (_, url) in queues {
            depth += observer.queue_depth(url).await?;
        }
        quiet_polls = if depth == 0 { quiet_polls + 1 } else { 0 };
        // Two quiet polls a second apart: nothing was in flight between them.
        if quiet_polls >= 2 {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(false)
}

/// Waits until every customer's reserved credit matches its active orders.
async fn wait_for_credit(observer: &Observer, client: &Client<'_>, workload: &Workload) -> anyhow::Result<()> {
    let deadline = Instant::now() + workload.settle_timeout;
    while Instant::now() < deadline {
        let orders = observer.orders(&client.endpoints().orders_state_table).await?;
        if credit_mismatches(observer, client, &orders).await?.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn credit_mismatches(
    observer: &Observer,
    client: &Client<'_>,
    orders: &[OrderRow],
) -> anyhow::Result<Vec<String>> {
    let mut expected: HashMap<&str, u64> = HashMap::new();
    for order in orders.iter().filter(|o| o.status == "approved") {
        *expected.entry(order.customer_id.as_str()).or_default() += order.amount_cents;
    }
    let customers = observer.customers(&client.endpoints().customers_state_table).await?;
    Ok(customers
        .iter()
        .filter_map(|(customer, _)| {
            let want = expected.get(customer.id.as_str()).copied().unwrap_or(0);
            (customer.reserved_cents() != want).then(|| {
                format!(
                    "customer {} reserves {} cents but its approved, uncancelled orders total {want}",
                    customer.id,
                    customer.reserved_cents()
                )
            })
        })
        .collect())
}

/// Waits until the sales view agrees with the orders table.
async fn wait_for_sales(observer: &Observer, client: &Client<'_>, workload: &Workload) -> anyhow::Result<()> {
    let endpoints = client.endpoints();
    let deadline = Instant::now() + workload.settle_timeout;
    while Instant::now() < deadline {
        let orders = observer.orders(&endpoints.orders_state_table).await?;
        let sales: Vec<OrderSale> =
            observer.sales(&endpoints.analytics_state_table).await?.into_iter().map(|(sale, _)| sale).collect();
        if sales_mismatches(&orders, &sales).is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// The orders domain's name for a sales status.
fn order_status(status: SaleStatus) -> &'static str {
    match status {
        SaleStatus::Placed => "pending",
        SaleStatus::Approved => "approved",
        SaleStatus::Rejected => "rejected",
        SaleStatus::Cancelled => "cancelled",
    }
}

/// Where the sales view and the orders table disagree: one row per order,
/// with the order's status, channel and amount (at most a few lines).
fn sales_mismatches(orders: &[OrderRow], sales: &[OrderSale]) -> Vec<String> {
    const SHOWN: usize = 10;
    let mut violations = Vec::new();
    if sales.len() != orders.len() {
        violations.push(format!("the sales view has {} rows for {} orders", sales.len(), orders.len()));
    }
    let rows: HashMap<String, &OrderSale> = sales.iter().map(|sale| (sale.order_id.to_string(), sale)).collect();
    let mut differing = orders.iter().filter_map(|order| {
        let Some(sale) = rows.get(&order.id) else {
            return Some(format!("order {} has no row in the sales view", order.id));
        };
        let view = (order_status(sale.status), sale.channel.as_deref(), sale.amount_cents);
        let truth = (order.status.as_str(), order.channel.as_deref(), order.amount_cents);
        (view != truth || !sale.placed).then(|| {
            format!(
                "the sales view has order {} as {view:?} (placed seen: {}), the order is {truth:?}",
                order.id, sale.placed
            )
        })
    });
    violations.extend(differing.by_ref().take(SHOWN));
    let more = differing.count();
    if more > 0 {
        violations.push(format!("... and {more} more orders differ in the sales view"));
    }
    violations
}

/// Every entity's version: a redelivery that changed anything changes one.
async fn snapshot(observer: &Observer, client: &Client<'_>) -> anyhow::Result<BTreeMap<String, u64>> {
    let endpoints = client.endpoints();
    let mut versions = BTreeMap::new();
    for (customer, version) in observer.customers(&endpoints.customers_state_table).await? {
        versions.insert(customer.id, version);
    }
    for (order, version) in observer.entities::<OrderRow>(&endpoints.orders_state_table).await? {
        versions.insert(order.id, version);
    }
    for (sale, version) in observer.sales(&endpoints.analytics_state_table).await? {
        versions.insert(format!("sale {}", sale.order_id), version);
    }
    Ok(versions)
}

/// Sends already-consumed events to their consumers again, the way SNS and
/// SQS at-least-once delivery may.
async fn redeliver(
    observer: &Observer,
    client: &Client<'_>,
    orders_events: &[Envelope],
    customers_events: &[Envelope],
    count: usize,
) -> anyhow::Result<usize> {
    let endpoints = client.endpoints();
    let to_customers =
        orders_events.iter().filter(|e| matches!(e.event_type.as_str(), "OrderPlaced" | "OrderCancelled"));
    let to_orders = customers_events
        .iter()
        .filter(|e| matches!(e.event_type.as_str(), "CreditReserved" | "CreditLimitExceeded" | "CreditRefused"));
    // The sales view gets the latest order events: decisions and cancellations.
    let to_analytics = orders_events.iter().rev();
    let third = count / 3;
    let picks = to_customers
        .take(third)
        .map(|e| (e, &endpoints.queues[0].1))
        .chain(to_analytics.take(third).map(|e| (e, &endpoints.queues[2].1)))
        .chain(to_orders.take(count - 2 * third).map(|e| (e, &endpoints.queues[1].1)));
    let mut sent = 0;
    for (event, queue) in picks {
        observer.send_to_queue(queue, &event.to_json()?, &event.event_type, &event.subject).await?;
        sent += 1;
    }
    Ok(sent)
}

fn decision_latency(events: &[Envelope]) -> Latency {
    let mut placed = HashMap::new();
    let mut samples = Vec::new();
    let mut seen = HashSet::new();
    // A retried publish puts an event on the stream twice: count it once.
    for event in events.iter().filter(|e| seen.insert(e.id)) {
        match event.event_type.as_str() {
            "OrderPlaced" => {
                placed.entry(event.subject.clone()).or_insert(event.time);
            }
            "OrderApproved" | "OrderRejected" => {
                if let Some(start) = placed.get(&event.subject) {
                    samples.push((event.time - *start).num_milliseconds().max(0) as u64);
                }
            }
            _ => {}
        }
    }
    samples.sort_unstable();
    let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
    Latency { samples: samples.len(), p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: at(1.0) }
}

async fn check_invariants(
    summary: &Summary,
    orders: &[OrderRow],
    observer: &Observer,
    client: &Client<'_>,
    redelivery: Redelivery,
) -> anyhow::Result<Vec<String>> {
    let mut violations: Vec<String> = summary.not_final_violation().into_iter().collect();
    if orders.len() != summary.orders_placed {
        violations.push(format!("{} orders accepted but {} stored", summary.orders_placed, orders.len()));
    }
    violations.extend(credit_mismatches(observer, client, orders).await?);
    for (queue, count) in &summary.dlq_messages {
        if *count > 0 {
            violations.push(format!("{queue} holds {count} messages"));
        }
    }
    match redelivery {
        Redelivery::Suppressed => {}
        Redelivery::ChangedState => violations.push("a redelivered event changed state: it was applied twice".into()),
        Redelivery::NotSettled(deadline) => violations.push(format!(
            "the consumers had not drained their queues {}s after the cancellations, so the redelivery check \
             could not tell a late first delivery from a second one",
            deadline.as_secs()
        )),
    }
    Ok(violations)
}

/// What the deliberate redeliveries showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redelivery {
    /// No state changed: every copy was recognised.
    Suppressed,
    ChangedState,
    /// The mesh was still applying first deliveries within the deadline.
    NotSettled(Duration),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use analytics::{CustomerId, OrderId};

    use super::*;

    fn order(status: &str, channel: Option<&str>) -> OrderRow {
        OrderRow {
            id: OrderId::generate().to_string(),
            customer_id: CustomerId::generate().to_string(),
            amount_cents: 1_500,
            status: status.into(),
            channel: channel.map(Into::into),
        }
    }

    fn sale_of(order: &OrderRow, status: SaleStatus) -> OrderSale {
        OrderSale {
            order_id: OrderId::parse(&order.id).unwrap(),
            customer_id: CustomerId::parse(&order.customer_id).unwrap(),
            amount_cents: order.amount_cents,
            channel: order.channel.clone(),
            status,
            last_sequence: 2,
            placed: true,
        }
    }

    #[test]
    fn orders_not_final_are_a_violation_naming_them() {
        let orders = [order("approved", None), order("pending", None), order("rejected", None), order("pending", None)];
        let mut summary = Summary::default();

        summary.tally(&orders);

        assert_eq!((summary.approved, summary.rejected, summary.cancelled, summary.pending), (1, 1, 0, 2));
        let mut ids = vec![orders[1].id.clone(), orders[3].id.clone()];
        ids.sort();
        assert_eq!(summary.not_final, ids);
        assert_eq!(
            summary.not_final_violation().unwrap(),
            format!("2 orders never reached a final state: {}, {}", ids[0], ids[1])
        );
        summary.tally(&orders[..1]);
        assert_eq!((summary.pending, summary.not_final.len(), summary.not_final_violation()), (0, 0, None));
    }

    #[test]
    fn lists_the_first_twenty_orders_not_final_and_counts_the_rest() {
        let orders: Vec<OrderRow> = (0..25).map(|_| order("pending", None)).collect();
        let mut summary = Summary::default();

        summary.tally(&orders);

        assert_eq!((summary.pending, summary.not_final.len()), (25, NOT_FINAL_SHOWN));
        assert!(summary.not_final.is_sorted());
        let violation = summary.not_final_violation().unwrap();
        assert!(violation.starts_with("25 orders never reached a final state: "), "{violation}");
        assert!(violation.ends_with(" and 5 more"), "{violation}");
        assert!(summary.not_final.iter().all(|id| violation.contains(id)));
    }

    #[test]
    fn a_decision_published_twice_is_one_latency_sample() {
        use mesh::envelope::EventMeta;
        let meta = EventMeta::root(uuid::Uuid::now_v7());
        let placed = Envelope::new("orders/order-events", "OrderPlaced", "o1", 1, serde_json::json!({}), &meta);
        let mut approved = Envelope::new("orders/order-events", "OrderApproved", "o1", 2, serde_json::json!({}), &meta);
        approved.time = placed.time + chrono::Duration::milliseconds(1_500);

        let latency = decision_latency(&[placed, approved.clone(), approved]);

        assert_eq!((latency.samples, latency.p50_ms), (1, 1_500));
    }

    #[test]
    fn the_sales_view_agrees_with_the_orders_it_mirrors() {
        let orders = [order("approved", Some("web")), order("pending", None)];
        let sales = [sale_of(&orders[0], SaleStatus::Approved), sale_of(&orders[1], SaleStatus::Placed)];

        assert_eq!(sales_mismatches(&orders, &sales), Vec::<String>::new());
    }

    #[test]
    fn reports_a_missing_row_another_status_and_another_channel() {
        let orders = [order("cancelled", Some("web")), order("rejected", None), order("approved", Some("mobile"))];
        let mut wrong_channel = sale_of(&orders[2], SaleStatus::Approved);
        wrong_channel.channel = None;
        let sales = [sale_of(&orders[0], SaleStatus::Approved), wrong_channel];

        let violations = sales_mismatches(&orders, &sales);

        assert_eq!(violations.len(), 4, "{violations:#?}");
        assert_eq!(violations[0], "the sales view has 2 rows for 3 orders");
        assert!(violations[1].contains(&orders[0].id) && violations[1].contains("cancelled"), "{}", violations[1]);
        assert_eq!(violations[2], format!("order {} has no row in the sales view", orders[1].id));
        assert!(violations[3].contains(&orders[2].id) && violations[3].contains("mobile"), "{}", violations[3]);
    }
}
