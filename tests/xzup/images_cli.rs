//! `--image` / `--version` on the command line and the plan of a version upgrade, on copies
//! of the example deployments. No Docker engine needed.

use crate::cli::{tree, xzup};
use crate::harness::{copy_tree, example};

const REPO: &str = "ghcr.nju.edu.cn/xinnan-tech/xiaozhi-esp32-server";

fn upstream() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example("upstream"), dir.path());
    dir
}

#[test]
fn a_version_plan_shows_each_image_now_and_the_target_and_only_image_lines_change() {
    let dir = upstream();
    let before = tree(dir.path());
    let out = xzup()
        .arg_path("-C", dir.path())
        .args(["plan", "--version", "0.9.1", "--detailed-exitcode"])
        .run()
        .code(2);
    let images: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Images")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        images,
        [
            format!("  server  {REPO}:server_latest (no container) -> {REPO}:server_0.9.1"),
            "  db      mysql:latest (no container) -> (unchanged)".to_string(),
            "  redis   redis:8.0 (no container) -> (unchanged)".to_string(),
            format!("  web     {REPO}:web_latest (no container) -> {REPO}:web_0.9.1"),
        ],
        "{}",
        out.stdout
    );
    let diff: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Diff")
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        diff,
        [
            format!("-    image: {REPO}:server_latest"),
            format!("+    image: {REPO}:server_0.9.1"),
            format!("-    image: {REPO}:web_latest"),
            format!("+    image: {REPO}:web_0.9.1"),
        ],
        "{}",
        out.stdout
    );
    assert_eq!(tree(dir.path()), before, "plan writes nothing");
}

#[test]
fn bad_image_options_are_usage_errors_that_change_nothing() {
    let dir = upstream();
    let before = tree(dir.path());
    for (args, says) in [
        (vec!["--image", "web"], "--image web: expected ROLE=IMAGE"),
        (
            vec!["--image", "nosuch=x"],
            "`nosuch` is neither a role nor a service of the file",
        ),
        (vec!["--image", "web=-bad"], "is not an image reference"),
        (
            vec!["--image", "web=x@md5:1"],
            "a digest is `sha256:` and 64 hex digits",
        ),
        (
            vec!["--version", "1", "--image", "web=web_2"],
            "is already given a new image by --version 1",
        ),
    ] {
        let out = xzup()
            .arg_path("-C", dir.path())
            .args(["apply"])
            .args(&args)
            .run()
            .code(64);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let out = xzup()
        .arg_path("-C", dir.path())
        .args(["apply"])
        .run()
        .code(64);
    assert!(out.stderr.contains("--tier"), "{}", out.stderr);
    assert_eq!(tree(dir.path()), before);
}
