//! Domain descriptors: the model, loading with line numbers, and the checks
//! that span the whole mesh (governance included).

mod model;
mod validate;
mod yaml;

pub use model::{
    Access, Api, ApiClient, Classification, Descriptor, EventContract, KinesisPort, NotAProductRef, Order, Owner,
    Ports, Product, ProductRef, Route, RouteAuth, Saga, SagaDeadline, ServiceLevels, SnsPort, Subscription, Throttling,
};
pub use validate::{DomainFile, Mesh, Problem, load_mesh};
