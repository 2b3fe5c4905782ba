//! Integration tests of `rask-config`: one binary, a module per area.

mod env;
mod file;
mod global;
mod to_toml;

use std::path::Path;

use rask_config::Config;

/// Reads `text` as the file `rask.toml`.
fn parse(text: &str) -> Result<Config, rask_config::ConfigError> {
    Config::from_toml_str(text, Path::new("rask.toml"))
}

/// A `(name, value)` pair for [`Config::apply_env`].
fn var(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}
