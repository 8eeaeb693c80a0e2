//! The sample mini-program's API module (`clients/miniprogram/`) against the
//! real server: node's test runner runs its tests, whose stand-in `wx` makes
//! the HTTP calls the platform would (multipart upload, string body), against
//! a server spawned here with its own Redis and fake WeChat.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

/// How long node may take for all of the mini-program's tests.
const NODE_TIMEOUT: Duration = Duration::from_secs(120);

/// The test files (`*.test.js`; the helpers beside them are not tests).
fn test_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".test.js")))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn miniprogram_api_module_against_the_real_server() {
    let node_version = std::process::Command::new("node").arg("--version").output();
    let Ok(version) = node_version else {
        panic!(
            "`node` is not on PATH: the mini-program's tests need Node.js 20 or later (scripts/setup.sh installs it)"
        );
    };
    assert!(version.status.success(), "`node --version` failed: {version:?}");

    let demo = demo();
    let photos = demo.collection.join("photos");
    assert!(photos.join("pd-006-visitor.jpg").is_file(), "demo photos in {}", photos.display());
    // Each test logs in a visitor of its own: more logins than one visitor's IP may make by default.
    let app = TestApp::spawn(AppOptions::default().with(|s| s.limits.login_per_minute = 1000)).await;

    let root = workspace_root();
    let files = test_files(&root.join("clients/miniprogram/test"));
    assert!(!files.is_empty(), "no *.test.js in clients/miniprogram/test");
    let child = tokio::process::Command::new("node")
        .arg("--test")
        .args(&files)
        .current_dir(&root)
        .env("MUSEUM_API", &app.address)
        .env("FAKE_WECHAT", &app.wechat.base)
        .env("DEMO_PHOTOS", &photos)
        .env("DEMO_MUSEUM", DEMO)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = match tokio::time::timeout(NODE_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.expect("node's output"),
        Err(_) => panic!("node --test did not finish within {NODE_TIMEOUT:?} (killed)"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "node --test failed ({}):\n{stdout}\n{stderr}", output.status);
    // Every test ran: none was skipped for want of the server, the fake WeChat or the photos.
    assert!(stdout.contains("# skipped 0"), "some mini-program tests were skipped:\n{stdout}");
    assert!(stdout.contains("# fail 0"), "{stdout}");
}
