//! The command line against the real binary, for its exit codes and
//! stderr: a missing kubeconfig stops `check-config` and `serve` naming
//! the file, and `check-config` summarises a Kubernetes source without
//! calling the API server.

use crate::support::kube_api::KubeApi;
use crate::support::server::BIN;

#[test]
fn a_missing_kubeconfig_is_a_startup_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: nowhere/kubeconfig.yaml\n",
    )
    .unwrap();
    for args in [
        vec!["check-config".to_owned(), config.display().to_string()],
        vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--admin".to_owned(),
            "127.0.0.1:0".to_owned(),
        ],
    ] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("nowhere/kubeconfig.yaml"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_summarises_a_kubernetes_source() {
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = api.write_config(dir.path(), "    namespaces: [a, b]\n");
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("services, endpointslices, statefulsets"),
        "{stdout}"
    );
    assert!(stdout.contains("namespaces a, b"), "{stdout}");
    assert!(
        api.served().is_empty(),
        "check-config must not call the API server"
    );
}
