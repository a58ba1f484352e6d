//! `infra/identity.yaml`: who may call the mesh's HTTP APIs. One Cognito
//! user pool for the mesh, its domain (the OAuth 2.0 token endpoint), a
//! resource server per domain API (identifier = the domain, scopes from its
//! routes) and an app client per client name the APIs list, allowed the
//! union of the scopes every domain grants it (client credentials only).
//! The domain stacks take the issuer and the client ids as parameters, so a
//! team can point them at another OIDC issuer instead.

use std::collections::BTreeMap;

use super::cfn::{Template, att, camel, list, map, r, s, strings, sub};
use super::params;
use crate::descriptor::{Api, Descriptor, Mesh};

/// `<Client>ClientId`: the identity stack's output, and the parameter of
/// every domain stack whose API accepts the client.
pub fn client_id_parameter(client: &str) -> String {
    format!("{}ClientId", camel(client))
}

/// The logical id of a domain's resource server.
fn resource_server_id(domain: &str) -> String {
    format!("{}ResourceServer", camel(domain))
}

/// The domains whose API takes tokens: those with at least one `jwt` route.
fn token_apis(mesh: &Mesh) -> Vec<(&Descriptor, &Api)> {
    mesh.domains
        .iter()
        .map(|d| &d.descriptor)
        .filter_map(|d| d.api.as_ref().filter(|api| api.has_jwt_routes()).map(|api| (d, api)))
        .collect()
}

/// Every client name and the scopes any domain grants it, in domain order.
pub fn clients(mesh: &Mesh) -> BTreeMap<String, Vec<String>> {
    let mut clients: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, api) in token_apis(mesh) {
        for client in &api.clients {
            let scopes = clients.entry(client.name.clone()).or_default();
            scopes.extend(client.scopes.iter().filter(|s| !scopes.contains(s)).cloned().collect::<Vec<_>>());
        }
    }
    clients
}

/// The identity stack, or `None` for a mesh whose APIs take no token.
pub fn identity_template(mesh: &Mesh) -> Option<Template> {
    let apis = token_apis(mesh);
    let clients = clients(mesh);
    if clients.is_empty() {
        return None;
    }
    let mut t = Template::new(
        "Data mesh identity: who may call the domains' HTTP APIs. One Cognito user pool for the mesh, its \
         domain (the OAuth 2.0 token endpoint), a resource server per domain API whose scopes its routes \
         ask for, and an app client per client the APIs accept (client credentials grant, a secret, only \
         the scopes the domains grant it). Deploy it before the domain stacks and pass IssuerUrl and each \
         <Client>ClientId to them.",
    );
    params::prefix(&mut t);
    user_pool(&mut t);
    for (domain, api) in &apis {
        resource_server(&mut t, domain, api);
    }
    for (name, scopes) in &clients {
        app_client(&mut t, name, scopes);
    }
    outputs(&mut t, &clients);
    Some(t)
}

fn user_pool(t: &mut Template) {
    t.resource(
        "UserPool",
        Some(
            "The mesh's token issuer. Its app clients are services and front ends\n\
             (client credentials); nobody signs up: users only by an administrator.",
        ),
        "AWS::Cognito::UserPool",
        map([
            ("UserPoolName", sub("${Prefix}-mesh")),
            ("AdminCreateUserConfig", map([("AllowAdminCreateUserOnly", true.into())])),
        ]),
    );
    t.resource(
        "UserPoolDomain",
        Some(
            "Serves the token endpoint, https://<domain>.auth.<region>.amazoncognito.com/oauth2/token.\n\
             The prefix is unique in the region: the mesh's prefix and the account.",
        ),
        "AWS::Cognito::UserPoolDomain",
        map([("Domain", sub("${Prefix}-${AWS::AccountId}")), ("UserPoolId", r("UserPool"))]),
    );
}

/// `orders` with the scopes `write` and `read`, each described by the routes that ask for it.
fn resource_server(t: &mut Template, domain: &Descriptor, api: &Api) {
    let scopes = api.scopes().into_iter().map(|scope| {
        let routes: Vec<&str> =
            api.routes.iter().filter(|r| r.scopes.iter().any(|s| s == scope)).map(|r| r.route.as_str()).collect();
        let name = scope.split_once('/').map_or(scope, |(_, name)| name);
        map([("ScopeName", s(name)), ("ScopeDescription", s(routes.join(", ")))])
    });
    t.resource(
        &resource_server_id(&domain.domain),
        Some(&format!("The {} API: its scopes are {}/<name>.", domain.domain, domain.domain)),
        "AWS::Cognito::UserPoolResourceServer",
        map([
            ("UserPoolId", r("UserPool")),
            ("Identifier", s(domain.domain.clone())),
            ("Name", s(format!("{} API", domain.domain))),
            ("Scopes", list(scopes)),
        ]),
    );
}

/// An app client: a secret, the client credentials grant, and only the scopes the domains grant it.
fn app_client(t: &mut Template, name: &str, scopes: &[String]) {
    let mut servers: Vec<String> = Vec::new();
    for domain in scopes.iter().filter_map(|scope| scope.split_once('/').map(|(d, _)| d)) {
        let id = resource_server_id(domain);
        if !servers.contains(&id) {
            servers.push(id);
        }
    }
    t.resource_with(
        &format!("{}Client", camel(name)),
        Some(&format!(
            "{name}: a machine client. Its secret stays in Cognito (DescribeUserPoolClient);\n\
             its scopes need their resource servers first."
        )),
        map([
            ("Type", s("AWS::Cognito::UserPoolClient")),
            ("DependsOn", strings(servers)),
            (
                "Properties",
                map([
                    ("UserPoolId", r("UserPool")),
                    ("ClientName", sub(format!("${{Prefix}}-{name}"))),
                    ("GenerateSecret", true.into()),
                    ("AllowedOAuthFlowsUserPoolClient", true.into()),
                    ("AllowedOAuthFlows", strings(["client_credentials"])),
                    ("AllowedOAuthScopes", strings(scopes.iter().cloned())),
                    // No password or SRP sign-in: the client only exchanges its secret for tokens.
                    ("ExplicitAuthFlows", strings(["ALLOW_REFRESH_TOKEN_AUTH"])),
                    ("AccessTokenValidity", 60.into()),
                    ("TokenValidityUnits", map([("AccessToken", s("minutes"))])),
                    ("PreventUserExistenceErrors", s("ENABLED")),
                    ("EnableTokenRevocation", true.into()),
                ]),
            ),
        ]),
    );
}

fn outputs(t: &mut Template, clients: &BTreeMap<String, Vec<String>>) {
    t.output("UserPoolId", "Id of the mesh's user pool.", r("UserPool"));
    t.output("UserPoolArn", "ARN of the mesh's user pool.", att("UserPool", "Arn"));
    t.output(
        "IssuerUrl",
        "The tokens' issuer (iss): pass it to every domain stack as JwtIssuer.",
        sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"),
    );
    t.output(
        "TokenEndpoint",
        "POST grant_type=client_credentials here with a client's id and secret (HTTP Basic) for an access token.",
        sub("https://${UserPoolDomain}.auth.${AWS::Region}.amazoncognito.com/oauth2/token"),
    );
    for name in clients.keys() {
        t.output(
            &client_id_parameter(name),
            &format!("Id of the {name} app client (its secret: aws cognito-idp describe-user-pool-client)."),
            r(&format!("{}Client", camel(name))),
        );
    }
}
