//! Tests of the Kubernetes source's request paths, event versions and
//! watched kinds; the watch, the run loop and the errors test their own.

use super::*;

#[test]
fn paths_are_the_api_servers() {
    assert_eq!(url_path(Kind::Service, None), "/api/v1/services");
    assert_eq!(
        url_path(Kind::EndpointSlice, Some("demo")),
        "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices"
    );
    assert_eq!(
        url_path(Kind::Endpoints, Some("a")),
        "/api/v1/namespaces/a/endpoints"
    );
    assert_eq!(
        url_path(Kind::StatefulSet, None),
        "/apis/apps/v1/statefulsets"
    );
}

#[test]
fn events_carry_their_objects_resource_version() {
    let service = |rv: Option<&str>| {
        Watched::Service(core::Service {
            metadata: kube::api::ObjectMeta {
                name: Some("web".into()),
                resource_version: rv.map(str::to_owned),
                ..Default::default()
            },
            ..Default::default()
        })
    };
    assert_eq!(
        resource_version(&Event::Apply(service(Some("41")))),
        Some("41")
    );
    assert_eq!(
        resource_version(&Event::InitApply(service(Some("7")))),
        Some("7")
    );
    // A deleted object carries the version of its deletion.
    assert_eq!(
        resource_version(&Event::Delete(service(Some("42")))),
        Some("42")
    );
    assert_eq!(resource_version(&Event::Apply(service(None))), None);
    assert_eq!(resource_version(&Event::<Watched>::Init), None);
    assert_eq!(resource_version(&Event::<Watched>::InitDone), None);
}

#[test]
fn legacy_endpoints_are_opt_in() {
    let mut config = KubernetesConfig::default();
    assert_eq!(
        kinds(&config),
        [Kind::Service, Kind::EndpointSlice, Kind::StatefulSet]
    );
    config.legacy_endpoints = true;
    assert!(kinds(&config).contains(&Kind::Endpoints));
}
