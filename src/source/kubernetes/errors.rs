//! What a watch error means: an expired resource version (routine, the
//! watcher relists), the `kind` label it is counted under
//! (`metrics::SOURCE_ERRORS`), and the hint the log adds to it. Pure
//! functions of kube-runtime's `watcher::Error`.

use kube::runtime::watcher;

/// An expired resource version or continue token: the watcher relists.
pub(super) fn is_expired(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

/// The `kind` label of a watch error (`metrics::SOURCE_ERRORS`).
pub(super) fn error_kind(error: &watcher::Error) -> &'static str {
    let inner = match error {
        watcher::Error::WatchError(status) => {
            return match status.code {
                401 => "unauthorized",
                403 => "forbidden",
                _ => "api",
            };
        }
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::NoResourceVersion => return "api",
    };
    match inner {
        kube::Error::Api(status) => match status.code {
            401 => "unauthorized",
            403 => "forbidden",
            _ => "api",
        },
        kube::Error::SerdeError(_) => "decode",
        _ => "connection",
    }
}

/// What to do about an error, where we can tell.
pub(super) fn hint(error: &watcher::Error) -> &'static str {
    let status = match error {
        watcher::Error::WatchError(status) => Some(status.as_ref()),
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.as_ref()),
        _ => None,
    };
    match status.map(|s| s.code) {
        Some(401) => {
            " (the credentials were refused: check the kubeconfig or service account token)"
        }
        Some(403) => {
            " (forbidden: the service account needs get, list and watch on services, endpointslices, endpoints and statefulsets; see deploy/rbac.yaml)"
        }
        Some(404) => {
            " (the API server does not serve this kind: it needs Kubernetes 1.21 or later)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_versions_are_routine_and_forbidden_gets_a_hint() {
        let status = |code| {
            Box::new(kube::core::Status {
                code,
                ..Default::default()
            })
        };
        assert!(is_expired(&watcher::Error::WatchError(status(410))));
        assert!(is_expired(&watcher::Error::InitialListFailed(
            kube::Error::Api(status(410))
        )));
        assert!(!is_expired(&watcher::Error::WatchError(status(500))));
        assert!(
            hint(&watcher::Error::InitialListFailed(kube::Error::Api(
                status(403)
            )))
            .contains("rbac")
        );
        assert_eq!(hint(&watcher::Error::NoResourceVersion), "");
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let status = |code| {
            Box::new(kube::core::Status {
                code,
                ..Default::default()
            })
        };
        let api = |code| watcher::Error::WatchFailed(kube::Error::Api(status(code)));
        assert_eq!(error_kind(&api(401)), "unauthorized");
        assert_eq!(error_kind(&api(403)), "forbidden");
        assert_eq!(error_kind(&api(500)), "api");
        assert_eq!(
            error_kind(&watcher::Error::WatchError(status(403))),
            "forbidden"
        );
        let decode = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(
            error_kind(&watcher::Error::InitialListFailed(kube::Error::SerdeError(
                decode
            ))),
            "decode"
        );
        assert_eq!(
            error_kind(&watcher::Error::InitialListFailed(
                kube::Error::LinesCodecMaxLineLengthExceeded
            )),
            "connection"
        );
        for kind in ["unauthorized", "forbidden", "api", "decode", "connection"] {
            assert!(crate::metrics::SOURCE_ERRORS.contains(&kind), "{kind}");
        }
    }
}
