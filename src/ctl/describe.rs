//! `ctl describe TYPE [NAME...]`: statefulsets, pods, services,
//! endpointslices, persistentvolumeclaims and persistentvolumes in
//! kubectl's layout, each with its events.
//!
//! Names are looked up as kubectl does: the exact object, or else every
//! object whose name begins with it (`describe pod web` describes
//! `web-0` and `web-1`); no name (or `-l`) describes them all. The related
//! objects a description needs (a set's pods, a service's slices, the pods
//! that mount a claim, the events) are listed from the admin API, and the
//! text is made by `print::describe_*`.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::client::{self, Error};
use super::context::Ctx;
use super::get::Request;
use super::print::{Printable, describe_other, describe_workload};
use super::resource::Kind;
use crate::selector::Selector;

/// Runs `describe`; returns the exit code.
pub fn run(ctx: &mut Ctx<'_>, args: &[String], selector: Option<&Selector>) -> u8 {
    let request = match Request::parse(args) {
        Ok(request) => request,
        Err(message) => return ctx.error(&message),
    };
    let mut first = true;
    let mut code = 0;
    for (kind, names) in &request.groups {
        if selector.is_some() && !names.is_empty() {
            return ctx.error("name cannot be provided when a selector is specified");
        }
        let texts = match describe_kind(ctx, *kind, names, selector) {
            Ok(texts) => texts,
            Err(error) => return ctx.fail(&error),
        };
        for text in texts {
            match text {
                Ok(text) => {
                    if !first {
                        ctx.print("\n\n");
                    }
                    first = false;
                    ctx.print(&text);
                }
                Err(error) => {
                    ctx.flush();
                    ctx.eprint(&format!("{}\n", error.to_kubectl()));
                    code = 1;
                }
            }
        }
    }
    if first && code == 0 {
        let namespace = request
            .groups
            .iter()
            .any(|(k, _)| k.namespaced())
            .then(|| ctx.namespace.clone());
        ctx.eprint(&format!(
            "{}\n",
            super::print::no_resources(namespace.as_deref())
        ));
    }
    code
}

/// One description per object found (or per name not found).
type Texts = Vec<Result<String, Error>>;

fn describe_kind(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    names: &[String],
    selector: Option<&Selector>,
) -> Result<Texts, Error> {
    let now = ctx.now();
    match kind {
        Kind::StatefulSet => each::<StatefulSet>(ctx, kind, names, selector, |ctx, sts| {
            let labels = sts
                .spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.clone())
                .unwrap_or_default();
            let set_selector = Selector::parse(
                &labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .unwrap_or_default();
            let pods: Vec<Pod> = list::<Pod>(ctx, Kind::Pod, Some(&set_selector))?
                .into_iter()
                .filter(|p| {
                    p.metadata
                        .owner_references
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .any(|o| {
                            o.kind == "StatefulSet" && Some(&o.name) == sts.metadata.name.as_ref()
                        })
                })
                .collect();
            let events = events_of(ctx, "StatefulSet", &sts.metadata.name)?;
            Ok(describe_workload::statefulset(sts, &pods, &events, now))
        }),
        Kind::Pod => each::<Pod>(ctx, kind, names, selector, |ctx, pod| {
            let events = events_of(ctx, "Pod", &pod.metadata.name)?;
            Ok(describe_workload::pod(pod, &events, now))
        }),
        Kind::Service => each::<Service>(ctx, kind, names, selector, |ctx, svc| {
            let name = svc.metadata.name.clone().unwrap_or_default();
            let by_service =
                Selector::parse(&format!("kubernetes.io/service-name={name}")).unwrap_or_default();
            let slices = list::<EndpointSlice>(ctx, Kind::EndpointSlice, Some(&by_service))?;
            let events = events_of(ctx, "Service", &svc.metadata.name)?;
            Ok(describe_other::service(svc, &slices, &events, now))
        }),
        Kind::EndpointSlice => each::<EndpointSlice>(ctx, kind, names, selector, |ctx, slice| {
            let events = events_of(ctx, "EndpointSlice", &slice.metadata.name)?;
            Ok(describe_other::endpoint_slice(slice, &events, now))
        }),
        Kind::PersistentVolumeClaim => {
            each::<PersistentVolumeClaim>(ctx, kind, names, selector, |ctx, pvc| {
                let name = pvc.metadata.name.clone();
                let pods: Vec<Pod> = list::<Pod>(ctx, Kind::Pod, None)?
                    .into_iter()
                    .filter(|p| {
                        p.spec
                            .as_ref()
                            .and_then(|s| s.volumes.as_ref())
                            .is_some_and(|vs| {
                                vs.iter().any(|v| {
                                    v.persistent_volume_claim.as_ref().map(|c| &c.claim_name)
                                        == name.as_ref()
                                })
                            })
                    })
                    .collect();
                let events = events_of(ctx, "PersistentVolumeClaim", &pvc.metadata.name)?;
                Ok(describe_other::claim(pvc, &pods, &events, now))
            })
        }
        Kind::PersistentVolume => {
            each::<PersistentVolume>(ctx, kind, names, selector, |ctx, pv| {
                let events = events_of(ctx, "PersistentVolume", &pv.metadata.name)?;
                Ok(describe_other::volume(pv, &events, now))
            })
        }
        other => Err(Error::Decode {
            path: other.plural().to_string(),
            detail: format!(
                "ctl describes statefulsets, pods, services, endpointslices, persistentvolumeclaims and persistentvolumes, not {other}"
            ),
        }),
    }
}

/// The objects of `kind` in the namespace, selected by `selector`.
fn list<T: Printable>(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    selector: Option<&Selector>,
) -> Result<Vec<T>, Error> {
    let path = client::with_selector(&kind.list_path(Some(&ctx.namespace)), selector);
    let list: k8s_openapi::List<T> = ctx.client.get(&path)?;
    Ok(list.items)
}

/// The events about one object (kind and name), in the namespace.
fn events_of(ctx: &mut Ctx<'_>, kind: &str, name: &Option<String>) -> Result<Vec<Event>, Error> {
    Ok(list::<Event>(ctx, Kind::Event, None)?
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind) && e.involved_object.name == *name
        })
        .collect())
}

/// Finds the objects `names` stand for (exact, else by prefix; all when
/// empty) and describes each with `describe`.
fn each<T>(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    names: &[String],
    selector: Option<&Selector>,
    describe: impl Fn(&mut Ctx<'_>, &T) -> Result<String, Error>,
) -> Result<Texts, Error>
where
    T: Printable,
{
    let mut texts = Vec::new();
    let mut found: Vec<T> = Vec::new();
    if names.is_empty() {
        found = list::<T>(ctx, kind, selector)?;
    }
    for name in names {
        let path = if kind.namespaced() {
            kind.item_path(&ctx.namespace, name)
        } else {
            format!("{}/{name}", kind.list_path(None))
        };
        match ctx.client.get::<T>(&path) {
            Ok(object) => found.push(object),
            Err(error) if error.is_not_found() => {
                let mut matching: Vec<T> = list::<T>(ctx, kind, None)?
                    .into_iter()
                    .filter(|o| {
                        o.metadata()
                            .name
                            .as_deref()
                            .is_some_and(|n| n.starts_with(name.as_str()))
                    })
                    .collect();
                if matching.is_empty() {
                    texts.push(Err(error));
                } else {
                    found.append(&mut matching);
                }
            }
            Err(error) => return Err(error),
        }
    }
    for object in &found {
        texts.push(describe(ctx, object));
    }
    Ok(texts)
}
