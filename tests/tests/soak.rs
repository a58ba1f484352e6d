//! The soak in its short configuration: a few hundred orders with 10 % of
//! the functions' AWS calls faulted and every crash point, then every event
//! checked by id (`make soak` runs 10,000).
#![allow(clippy::unwrap_used)]

use mesh_local::EmulatorOptions;
use mesh_tests::TestMesh;
use mesh_tests::soak::{self, Soak};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_and_crashes_nothing_is_lost_nothing_applied_twice_and_order_is_kept() {
    let emulator = EmulatorOptions { fault_proxy: true, ..EmulatorOptions::default() };
    let mesh = TestMesh::start_with(emulator, soak::deploy_options()).await.unwrap();
    let Some(proxy) = mesh.emulator.faults() else {
        eprintln!("skipped: AWS_ENDPOINT_URL is set, so no fault proxy can stand in front of the functions");
        return;
    };
    let soak = Soak::short();

    let report = soak::run(&mesh.client(), &mesh.observer, proxy, &soak).await.unwrap();
    report.print();

    assert_eq!(report.violations, Vec::<String>::new());
    assert_eq!(report.lost, 0);
    assert!((report.effects_per_event - 1.0).abs() < f64::EPSILON, "{}", report.effects_per_event);
    assert_eq!(report.ordering_violations, 0);
    // Both orders the descriptors ask for were checked, entity by entity.
    let orders: Vec<(&str, &str)> = report.ordered.iter().map(|(name, o)| (name.as_str(), o.order.as_str())).collect();
    assert_eq!(
        orders,
        [("analytics ← orders/order-events", "sequence"), ("customers ← orders/order-events", "strict")]
    );
    assert_eq!(report.fifo_subscriptions, 1);
    assert!(report.ordered.values().all(|o| o.entities == soak.workload.orders && o.behind == 0));
    assert!(report.faults.injected() > 0, "no fault was injected: {:?}", report.faults);
    assert_eq!(
        report.faults.crashes.len(),
        soak.crash_points.len(),
        "every crash point fired: {:?}",
        report.faults.crashes
    );
    assert_eq!(report.poison_injected, 6);
    assert_eq!(report.workload.orders_placed, soak.workload.orders);
    // Every order's saga ended (decided, or rejected at its deadline).
    assert_eq!(
        (report.workload.pending, report.workload.not_final.as_slice()),
        (0, &[] as &[String]),
        "orders not final at the end of the soak"
    );
    mesh.stop().await.unwrap();
}
