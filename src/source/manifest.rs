//! Kubernetes manifests on disk: files and folders of YAML or JSON, read the
//! way `kubectl apply -f` reads them, into typed [`Object`]s, and their DNS
//! view as a [`ClusterState`].
//!
//! Data enters as paths ([`load_objects`]) or as one file's text
//! ([`parse_objects`]). Its rooms: `files` (which files a path stands for),
//! `documents` (cutting a file into YAML documents or a JSON stream), `kinds`
//! (dispatch on `apiVersion`/`kind`, `kind: List`, typed parsing) and
//! `error` (positions: file, document, line, list item, object). The
//! conversion into `crate::model` values is `source::convert`'s, shared with
//! the Kubernetes watch. Kinds the DNS side does not use are skipped; every
//! error names the file, the document, its line, the object and the field.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

use super::convert::{
    SERVICE_NAME_LABEL, endpoints_from_k8s, service_from_k8s, set_from_k8s, slice_from_k8s,
};
use crate::model::ClusterState;

mod documents;
mod error;
mod files;
mod kinds;
#[cfg(test)]
mod tests;

use documents::{parse_json_stream, parse_yaml_documents};
pub use error::{ManifestError, Position};
pub use files::manifest_files;
use files::read_error;
pub use kinds::Object;

/// Loads every Kubernetes object from files and folders, the way
/// `kubectl apply -f` takes them: a file is read whatever its name; a
/// folder contributes its `.json`, `.yaml` and `.yml` files, not
/// recursively, in sorted order. Objects are returned in the order read,
/// Namespaces included, for the embedded cluster to apply.
pub fn load_objects(paths: &[PathBuf]) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    for path in paths {
        for file in manifest_files(path)? {
            let text =
                std::fs::read_to_string(&file).map_err(|source| read_error(&file, source))?;
            parse_objects_into(&text, &file, &mut objects)?;
        }
    }
    Ok(objects)
}

/// The DNS view of a set of objects.
pub fn state_from_objects(objects: &[Object]) -> ClusterState {
    let mut state = StateBuilder::default();
    for object in objects {
        match object {
            Object::Namespace(_) => {}
            Object::Service(svc) => state.service(svc),
            Object::EndpointSlice(slice) => state.slice(slice),
            Object::Endpoints(ep) => state.endpoints(ep),
            Object::StatefulSet(sts) => state.set(sts),
        }
    }
    state.finish()
}

/// Builds the DNS view one object at a time, from borrowed objects: the
/// embedded cluster hands over what it stores without copying it.
#[derive(Default)]
pub struct StateBuilder(ClusterState);

impl StateBuilder {
    pub fn service(&mut self, svc: &core::Service) {
        self.0.services.extend(service_from_k8s(svc));
    }

    pub fn slice(&mut self, slice: &discovery::EndpointSlice) {
        match slice_from_k8s(slice) {
            Some(group) => self.0.slices.push(group),
            None => tracing::debug!(
                slice = ?slice.metadata.name,
                "skipping an EndpointSlice without the {SERVICE_NAME_LABEL} label: it belongs to no service"
            ),
        }
    }

    pub fn endpoints(&mut self, ep: &core::Endpoints) {
        self.0.endpoints.extend(endpoints_from_k8s(ep));
    }

    pub fn set(&mut self, sts: &apps::StatefulSet) {
        match set_from_k8s(sts) {
            Some(set) => self.0.sets.push(set),
            None => tracing::debug!(
                statefulset = ?sts.metadata.name,
                "skipping a StatefulSet without spec.serviceName: its pods get no DNS names"
            ),
        }
    }

    pub fn finish(self) -> ClusterState {
        self.0
    }
}

/// Parses one file's text into typed objects. `path` is used only in
/// messages.
pub fn parse_objects(text: &str, path: &Path) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    parse_objects_into(text, path, &mut objects)?;
    Ok(objects)
}

/// Parses one file's text and appends its objects to `state`. `path` is used
/// only in messages. Text that begins with `{` is a stream of JSON objects,
/// otherwise YAML documents separated by `---` lines; this is how kubectl
/// tells them apart.
fn parse_objects_into(
    text: &str,
    path: &Path,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        parse_json_stream(text, path, state)
    } else {
        parse_yaml_documents(text, path, state)
    }
}
