//! `make up`: the reference mesh (prefix `mesh`) on the embedded emulator,
//! left running, with ready-to-paste commands: the platform's listing of
//! every domain (`mesh_local::up`) and requests to the reference APIs.
//! `make down` stops it.

use anyhow::Context;
use mesh_local::up;
use mesh_tests::reference::CLIENT;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (emulator, mesh) = up::up(true, Some("mesh".to_owned())).await.context("deploying the mesh")?;
    println!("\nReady to paste:");
    up::print_mesh(&emulator, &mesh)?;
    let bearer = up::print_token_commands(&emulator, &mesh, CLIENT)?.map(|h| format!(" {h}")).unwrap_or_default();
    let customers = mesh.api_url("customers", "customers")?;
    let orders = mesh.api_url("orders", "orders")?;
    println!(
        "\n# register a customer, then place an order with the id it answers\n\
         curl -s -X POST '{customers}'{bearer} -H 'content-type: application/json' -d '{{\"name\": \"Ada\", \"credit_limit_cents\": 50000}}'\n\
         curl -s -X POST '{orders}'{bearer} -H 'content-type: application/json' -d '{{\"customer_id\": \"<id from above>\", \"amount_cents\": 1200}}'"
    );
    up::detach(emulator, &mesh)?;
    Ok(())
}
