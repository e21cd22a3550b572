//! Where Compose would not apply a value as written (facts: the reference NOTES and the
//! Compose sources):
//! - `cpus:` / `mem_limit:` / `mem_reservation:` on a service beside a different
//!   `deploy.resources` value: compose-go (v2) rejects the service; Compose v1 applies
//!   both, and which wins depends on the version.
//! - `deploy.resources.reservations.cpus`: outside swarm mode neither v1 nor v2 passes it
//!   to Docker (there is no CPU reservation for a plain container); v1 says so itself.
//! - a `limits:` with `cpus` but no `memory`: Compose v1 then creates the container with
//!   no memory limit at all, whatever `mem_limit` says.
//!
//! Warnings are about the file given, so a caller can warn about the source file and
//! about the rendered one.

use serde_yaml_ng::Value;

use super::read::{lookup, scalar_text, service};
use super::resources::conflicts;
use super::{ComposeFile, Warning};
use crate::roles::RoleMap;

pub(crate) fn warnings(file: &ComposeFile, roles: &RoleMap) -> Vec<Warning> {
    let mut out = Vec::new();
    for (_, name) in roles.iter() {
        let Some(svc) = service(&file.doc, name) else {
            continue;
        };
        let mut warn = |message: String| {
            out.push(Warning {
                service: name.to_string(),
                message,
            })
        };
        for (key, old, deploy_key, new) in conflicts(file, svc) {
            warn(format!(
                "sets `{key}: {old}` beside `{deploy_key}: {new}`: Compose v2 refuses a \
                 service whose two values differ, and Compose v1 applies both; remove `{key}` \
                 or give both the same value"
            ));
        }
        if let Some(value) = lookup(svc, &["deploy", "resources", "reservations", "cpus"]) {
            let shown = scalar_text(value).unwrap_or_else(|| "…".to_string());
            warn(format!(
                "`deploy.resources.reservations.cpus: {shown}` is ignored outside swarm mode: \
                 Docker reserves no CPU for the container, only the CPU limit applies; make \
                 sure the host has the cores the tier asks for"
            ));
        }
        let limits = lookup(svc, &["deploy", "resources", "limits"]).and_then(Value::as_mapping);
        if let Some(limits) = limits
            && limits.contains_key("cpus")
            && !limits.contains_key("memory")
        {
            warn(
                "`deploy.resources.limits` sets `cpus` but no `memory`: Compose v1 then runs \
                 the container with no memory limit at all; add `memory:` to `limits`"
                    .to_string(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn roles() -> RoleMap {
        crate::compose::short_test_roles()
    }

    fn warnings_of(text: &str) -> Vec<(String, String)> {
        let file = ComposeFile::parse(Path::new("c.yml"), text.to_string()).unwrap();
        file.warnings(&roles())
            .into_iter()
            .map(|w| (w.service, w.message))
            .collect()
    }

    #[test]
    fn clean_file_has_no_warnings() {
        let text = "services:\n  s:\n    deploy:\n      resources:\n        limits: {cpus: '1', memory: 1G}\n        reservations: {memory: 512M}\n  w: {image: x}\n  other:\n    mem_limit: 1g\n";
        assert_eq!(warnings_of(text), []);
    }

    #[test]
    fn old_style_limits_beside_different_deploy_values() {
        // One form alone, or both alike, is fine for both Compose flavours.
        assert_eq!(
            warnings_of("services:\n  d:\n    mem_limit: 2g\n    cpus: 1.5\n"),
            []
        );
        let alike = "services:\n  d:\n    mem_limit: 2g\n    deploy:\n      resources:\n        limits: {memory: 2048M}\n";
        assert_eq!(warnings_of(alike), []);
        let got = warnings_of(
            "services:\n  d:\n    mem_limit: 2g\n    cpus: 1.5\n    deploy:\n      resources:\n        limits: {cpus: '2', memory: 2g}\n",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "d");
        assert_eq!(
            got[0].1,
            "sets `cpus: 1.5` beside `deploy.resources.limits.cpus: 2`: Compose v2 refuses a \
             service whose two values differ, and Compose v1 applies both; remove `cpus` or \
             give both the same value"
        );
    }

    #[test]
    fn reserved_cpus_and_cpus_without_memory() {
        let got = warnings_of(
            "services:\n  r:\n    deploy:\n      resources:\n        limits:\n          cpus: '1'\n        reservations:\n          cpus: '0.5'\n",
        );
        assert_eq!(got.len(), 2);
        assert!(got[0].1.starts_with(
            "`deploy.resources.reservations.cpus: 0.5` is ignored outside swarm mode"
        ));
        assert_eq!(
            got[1].1,
            "`deploy.resources.limits` sets `cpus` but no `memory`: Compose v1 then runs the \
             container with no memory limit at all; add `memory:` to `limits`"
        );
    }

    #[test]
    fn merged_values_count() {
        let got = warnings_of(
            "x: &old\n  mem_limit: 1g\nservices:\n  w:\n    <<: *old\n    image: x\n    deploy: {resources: {limits: {memory: 2g}}}\n",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "w");
    }
}
