//! Integration tests of the `rask` binary: they run the built executable
//! with a controlled environment and check what it prints.

mod certs;
mod cluster;
mod config;
mod version;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// An empty directory of its own, removed on drop, so that no `rask.toml`
/// from the developer's checkout is read.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("rask-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("the temporary directory is writable");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of `rask` gave.
struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `rask ARGS` in `dir` with no `RASK_*` variable but those in `env`.
fn rask(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rask"));
    cmd.args(args).current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("RASK_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the rask binary starts");
    Run {
        status: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}
