//! Configuration errors: each names the file, the line and the key it is about, so an
//! operator can go straight to the mistake.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when the text came from one.
    pub file: Option<PathBuf>,
    /// 1-based line of the offending key or value, when it appears in the file.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `api.listen`; `None` for whole-file problems (syntax, unreadable).
    pub key: Option<String>,
    /// What is wrong and, where it helps, what is expected.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(
        key: Option<String>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: None,
            line,
            key,
            message: message.into(),
        }
    }

    pub(crate) fn unreadable(path: &Path, err: &std::io::Error) -> Self {
        ConfigError {
            file: Some(path.to_owned()),
            line: None,
            key: None,
            message: format!("cannot read the config file: {err}"),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one configuration file (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn single(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }

    pub(crate) fn with_file(mut self, path: &Path) -> Self {
        for e in &mut self.0 {
            e.file.get_or_insert_with(|| path.to_owned());
        }
        self
    }

    /// The first error's key, for callers and tests that care about one.
    pub fn first_key(&self) -> Option<&str> {
        self.0.first().and_then(|e| e.key.as_deref())
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
