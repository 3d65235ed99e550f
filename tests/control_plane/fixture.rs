//! The control plane under test, found or started once per test binary.
//!
//! [`fixture`] decides, once, where the suite's Kubernetes API server is:
//! `HEADLESS_DNS_TEST_KUBECONFIG` names an existing cluster's admin
//! kubeconfig (kind, k3d, a managed one); otherwise `../shared/k8s/cluster
//! up` starts etcd, kube-apiserver and kube-controller-manager in a temporary
//! folder, and a reaper process (started here, outliving this binary) runs
//! `cluster down` and removes the folder once this process has exited,
//! however it exits. Without either, every test prints why it was skipped;
//! `HEADLESS_DNS_REQUIRE_CONTROL_PLANE=1` turns that skip into a failure, and
//! `HEADLESS_DNS_CONTROL_PLANE_DEFERRED=1` (CI's plain `cargo test` step,
//! which runs this suite again as its own step) skips quietly whatever else
//! is set.
//!
//! Setup then does what a user following the README does: creates the
//! `headless-dns` namespace, applies `deploy/rbac.yaml` as shipped, asks the
//! API server for a token of its ServiceAccount (`kubectl create token`) and
//! writes a kubeconfig holding that token and the cluster's address and CA.
//! Every server under test authenticates with it. Tests share the one
//! cluster, each in namespaces of its own; tests that stop or restart a
//! process of the control plane take [`exclusive`], the others [`shared`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The field manager of every server-side apply the suite makes.
pub const MANAGER: &str = "headless-dns-tests";
/// The namespace and ServiceAccount of `deploy/rbac.yaml`.
pub const DEPLOY_NAMESPACE: &str = "headless-dns";

/// The suite's control plane, set up once.
pub struct Fixture {
    /// An admin kubeconfig, for the tests' own API calls.
    pub admin: PathBuf,
    /// The folder of the cluster this binary started: its PID files let
    /// the fault tests stop and restart its processes. `None` for a cluster
    /// named by `HEADLESS_DNS_TEST_KUBECONFIG`.
    pub local: Option<PathBuf>,
    /// A kubeconfig authenticated as `deploy/rbac.yaml`'s ServiceAccount.
    pub account: PathBuf,
    /// Where the fixture writes its files (removed by the reaper).
    pub work: PathBuf,
}

static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
/// Taken shared by every test, exclusively by those that stop a process
/// of the control plane, so that no other test sees the fault.
/// (tokio's lock: held across awaits, by tests on runtimes of their own,
/// and never poisoned by a test that failed holding it.)
static FAULTS: RwLock<()> = RwLock::const_new(());

pub async fn shared() -> RwLockReadGuard<'static, ()> {
    FAULTS.read().await
}

pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FAULTS.write().await
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

/// Prints that `test` was skipped and why; a failure when the control plane
/// is required.
pub fn skip(test: &str, why: &str) {
    if flag("HEADLESS_DNS_REQUIRE_CONTROL_PLANE") && !flag("HEADLESS_DNS_CONTROL_PLANE_DEFERRED") {
        panic!("{test}: {why}, and HEADLESS_DNS_REQUIRE_CONTROL_PLANE=1 makes that a failure");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// The control plane, or `None` (printed) when this test is skipped.
pub fn fixture(test: &str) -> Option<&'static Fixture> {
    if flag("HEADLESS_DNS_CONTROL_PLANE_DEFERRED") {
        eprintln!(
            "SKIPPED {test}: HEADLESS_DNS_CONTROL_PLANE_DEFERRED=1 (this suite runs in a step of its own)"
        );
        return None;
    }
    let result = FIXTURE.get_or_init(|| {
        // Setup runs in a runtime of its own: each test's runtime ends
        // with that test, and the fixture outlives them all.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap()
                .block_on(set_up())
        })
        .join()
        .unwrap_or_else(|_| Err("the control plane's setup panicked".to_owned()))
    });
    match result {
        Ok(fixture) => Some(fixture),
        Err(why) if why.starts_with("skip: ") => {
            skip(test, &why["skip: ".len()..]);
            None
        }
        Err(why) => panic!("{test}: the control plane could not be set up: {why}"),
    }
}

/// The shared control-plane folder, beside the crate.
pub fn shared_k8s() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/k8s")
}

async fn set_up() -> Result<Fixture, String> {
    let work = tempfile::Builder::new()
        .prefix("headless-dns-control-plane-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary folder: {e}"))?
        .keep();
    let (admin, local) = match std::env::var_os("HEADLESS_DNS_TEST_KUBECONFIG") {
        Some(path) => {
            reap(&work, None)?;
            (PathBuf::from(path), None)
        }
        None => {
            let script = shared_k8s().join("cluster");
            if !script.exists() {
                let _ = std::fs::remove_dir_all(&work);
                return Err(format!(
                    "skip: no control plane at {} and HEADLESS_DNS_TEST_KUBECONFIG is not set",
                    script.display()
                ));
            }
            for (tool, package) in [("etcd", "etcd-server"), ("openssl", "openssl")] {
                if !on_path(tool) {
                    let _ = std::fs::remove_dir_all(&work);
                    return Err(format!(
                        "skip: {tool} is not installed (apt-get install -y {package})"
                    ));
                }
            }
            let dir = work.join("cluster");
            // The reaper first, so that even a failed start is cleaned up.
            reap(&work, Some((&script, &dir)))?;
            (cluster_up(&script, &dir)?, Some(dir))
        }
    };
    let client = client(&admin).await;
    create_namespace(&client, DEPLOY_NAMESPACE).await;
    let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
    for object in documents(&rbac) {
        apply_value(&client, &object).await;
    }
    let account = work.join("account.kubeconfig");
    write_kubeconfig(
        &admin,
        &token(&client, DEPLOY_NAMESPACE, DEPLOY_NAMESPACE).await,
        &account,
    );
    Ok(Fixture {
        admin,
        local,
        account,
        work,
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
}

/// `cluster up DIR`; the admin kubeconfig it printed.
fn cluster_up(script: &Path, dir: &Path) -> Result<PathBuf, String> {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(script)
        .arg("up")
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "`{} up {}` failed ({}):\n{stdout}{stderr}",
            script.display(),
            dir.display(),
            out.status
        ));
    }
    let kubeconfig = stdout
        .lines()
        .find_map(|l| l.strip_prefix("kubeconfig: "))
        .ok_or_else(|| format!("`cluster up` printed no kubeconfig line:\n{stdout}{stderr}"))?;
    eprintln!(
        "control plane up in {:.1} s: {kubeconfig}",
        started.elapsed().as_secs_f64()
    );
    Ok(PathBuf::from(kubeconfig))
}

/// Starts the reaper: once this process is gone, `cluster down` (when
/// `cluster` is given), SIGKILL to any process its PID files still name,
/// and the removal of `work`.
fn reap(work: &Path, cluster: Option<(&Path, &Path)>) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let down = match cluster {
        // `cluster down`, then SIGKILL to whatever its PID files still
        // name (should the script be gone or fail, nothing is left).
        Some((script, dir)) => format!(
            "bash '{script}' down '{dir}' >/dev/null 2>&1; \
             for f in '{dir}'/*.pid; do [ -f \"$f\" ] && kill -KILL \"$(cat \"$f\")\" 2>/dev/null; done;",
            script = script.display(),
            dir = dir.display()
        ),
        None => String::new(),
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {down} rm -rf '{work}'",
        pid = std::process::id(),
        work = work.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a ^C to the test run must not stop it.
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start the cleanup process: {e}"))
}

/// A client from a kubeconfig file.
pub async fn client(kubeconfig: &Path) -> Client {
    let read = Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
    let config = kube::Config::from_custom_kubeconfig(read, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", kubeconfig.display()));
    Client::try_from(config).unwrap()
}

impl Fixture {
    pub async fn client(&self) -> Client {
        client(&self.admin).await
    }

    /// The local cluster's folder, or `None` (printed) when the cluster is
    /// not this binary's to stop.
    pub fn local(&self, test: &str) -> Option<&Path> {
        if self.local.is_none() {
            skip(
                test,
                "it stops processes of the control plane, and HEADLESS_DNS_TEST_KUBECONFIG names a cluster that is not this suite's",
            );
        }
        self.local.as_deref()
    }
}

/// What a test that shares the control plane opens with: the fixture, an
/// admin client, a fresh namespace `hdt-TAG-XXXX`, and a shared hold on
/// the control plane (no fault test stops a process of it meanwhile; keep
/// it bound, e.g. to `_shared`, for the whole test). `None` when the suite
/// skips.
pub async fn shared_test(
    test: &str,
    tag: &str,
) -> Option<(
    &'static Fixture,
    Client,
    String,
    RwLockReadGuard<'static, ()>,
)> {
    let fx = fixture(test)?;
    let hold = shared().await;
    let client = fx.client().await;
    let ns = test_namespace(&client, tag).await;
    Some((fx, client, ns, hold))
}

/// Creates namespace `name`; one that exists already is fine.
pub async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("create namespace {name}: {e}"),
    }
}

/// A fresh namespace for one test, `hdt-TAG-XXXX`, once pods may be
/// created in it ([`pods_admitted`]).
pub async fn test_namespace(client: &Client, tag: &str) -> String {
    use std::hash::{BuildHasher, RandomState};
    let suffix = RandomState::new().hash_one(Instant::now()) & 0xffff;
    let name = format!("hdt-{tag}-{suffix:04x}");
    create_namespace(client, &name).await;
    pods_admitted(client, &name).await;
    name
}

/// Waits until namespace `ns` has its `default` ServiceAccount.
///
/// The API server's ServiceAccount admission refuses a pod until it exists
/// ("error looking up service account NS/default"), and the
/// controller-manager's serviceaccount controller makes it only after the
/// namespace. Right after a fault test restarted the controller-manager, a
/// pod created at once was refused in CI.
pub async fn pods_admitted(client: &Client, ns: &str) {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    until(
        Duration::from_secs(60),
        &format!("ServiceAccount {ns}/default"),
        || async {
            match accounts.get_opt("default").await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err("not found".to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
}

/// Server-side apply of one object written as JSON (`apiVersion`, `kind`,
/// `metadata.name`, and `metadata.namespace` for namespaced kinds).
pub async fn apply_value(client: &Client, object: &Value) -> DynamicObject {
    let api = dynamic_api(client, object);
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("no metadata.name in {object}"));
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {} {name}: {e}", object["kind"]))
}

/// The API of an object's kind, in its namespace if it has one.
pub fn dynamic_api(client: &Client, object: &Value) -> Api<DynamicObject> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// A token of ServiceAccount `namespace/name`, as `kubectl create token`.
pub async fn token(client: &Client, namespace: &str, name: &str) -> String {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            // Longer than any run of the suite.
            expiration_seconds: Some(4 * 3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let granted = api
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("create token for {namespace}/{name}: {e}"));
    granted
        .status
        .unwrap_or_else(|| panic!("token request for {namespace}/{name} has no status"))
        .token
}

/// Writes a kubeconfig for the cluster of `admin`'s current context that
/// authenticates with `token` (and nothing of the admin's).
pub fn write_kubeconfig(admin: &Path, token: &str, to: &Path) {
    let config =
        Kubeconfig::read_from(admin).unwrap_or_else(|e| panic!("{}: {e}", admin.display()));
    let context_name = config
        .current_context
        .clone()
        .unwrap_or_else(|| panic!("{}: no current-context", admin.display()));
    let cluster_name = config
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_else(|| panic!("{}: no context {context_name}", admin.display()));
    let mut cluster = config
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .map(|c| serde_json::to_value(c).unwrap())
        .unwrap_or_else(|| panic!("{}: no cluster {cluster_name}", admin.display()));
    // A relative CA path is relative to the admin kubeconfig's folder.
    if let Some(ca) = cluster["certificate-authority"].as_str() {
        let base = admin.parent().unwrap_or(Path::new("."));
        cluster["certificate-authority"] = json!(base.join(ca).display().to_string());
    }
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "under-test", "cluster": cluster}],
        "users": [{"name": "account", "user": {"token": token}}],
        "contexts": [{"name": "under-test", "context": {"cluster": "under-test", "user": "account"}}],
        "current-context": "under-test",
    });
    std::fs::write(to, serde_json::to_string_pretty(&kubeconfig).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", to.display()));
}

/// The YAML documents of a manifest file, as JSON values.
pub fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n---")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|doc| {
            serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Polls `probe` every 25 ms until it gives `Some`, for at most `limit`;
/// on timeout panics with `what` and the last state `describe` gives.
pub async fn until<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {limit:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}
