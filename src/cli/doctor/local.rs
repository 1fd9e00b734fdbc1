//! `medsettle doctor`'s checks of this machine: the secrets the config names, the API token's
//! permissions, free disk space, the database (read-only inspection) and the offline queue,
//! and whether `api.listen` is free or held by a running medsettle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, Secret, SecretRef};
use crate::doctor::{Check, judge};
use crate::store::StoreError;

fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)
}

/// Every secret the configuration references, by config key.
fn secret_refs(config: &Config) -> Vec<(&'static str, &SecretRef)> {
    let mut refs = vec![("api.token", &config.api.token)];
    if let Some(up) = &config.upstream {
        let optional = [
            ("upstream.client_cert", up.client_cert.as_ref()),
            ("upstream.client_key", up.client_key.as_ref()),
            ("upstream.sign_key", up.sign_key.as_ref()),
            ("upstream.tif.token", up.tif.as_ref().map(|t| &t.token)),
        ];
        refs.extend(optional.into_iter().filter_map(|(k, r)| Some((k, r?))));
    }
    refs
}

/// Secrets load (never printed) and are not readable by every user. A `{ credential = … }`
/// secret is judged the way the unit provides it: outside the service, the file its
/// `LoadCredential=` line names, which systemd reads as root — so root-only (0600) is right
/// there and the service user needs no access.
pub(super) fn secrets(config: &Config, path: &Path) -> Vec<Check> {
    let dir = credentials_dir();
    let mut checks = Vec::new();
    for (key, r) in secret_refs(config) {
        let name = format!("secret {key}");
        let resolved = crate::cli::credentials::resolve(r, path);
        let credential = matches!(r, SecretRef::Credential(_));
        let shown = match (&resolved.via, &resolved.reference) {
            (Some(_), SecretRef::File(p)) => format!("{r} from {}", p.display()),
            _ => r.to_string(),
        };
        checks.push(match Secret::load(&resolved.reference, dir.as_deref()) {
            Err(e) if credential && not_permitted(&e) => Check::skip(
                &name,
                format!("{shown}: only root can read it ({e}); run `medsettle doctor` as root to check it"),
            ),
            Err(e) if credential => Check::fail(
                &name,
                crate::cli::credentials::describe(r, &resolved, &e),
                "创建该文件，属主 root，权限 0600（systemd 以 root 读取，经 LoadCredential= 交给服务） / create the file owned by root, mode 0600: systemd reads it as root and hands it to the service (LoadCredential=)",
            ),
            Err(e) => Check::fail(
                &name,
                e.to_string(),
                "创建该文件并设为服务用户可读（chmod 0640, chown root:medsettle） / create the file readable by the service user (chmod 0640, chown root:medsettle)",
            ),
            Ok(s) if s.world_readable => Check::warn(
                &name,
                format!("{shown}: readable by every user"),
                if credential {
                    "收紧权限：chmod 0600 文件 / restrict it: chmod 0600 FILE"
                } else {
                    "收紧权限：chmod 0640 文件 / restrict it: chmod 0640 FILE"
                },
            ),
            Ok(s) => Check::ok(
                &name,
                format!("{shown}: {} bytes, not world-readable", s.len()),
            ),
        });
    }
    let mut resolved = config.clone();
    crate::cli::credentials::resolve_all(&mut resolved, path);
    checks.push(store_key(&resolved, dir.as_deref()));
    checks
}

/// The secret's file exists but this user may not read it.
fn not_permitted(e: &crate::config::SecretError) -> bool {
    matches!(e, crate::config::SecretError::Unreadable { error, .. }
        if error.kind() == std::io::ErrorKind::PermissionDenied)
}

/// The database key set: loads and parses (ids only are shown), or is the default file the
/// daemon will create on its first start.
fn store_key(config: &Config, dir: Option<&Path>) -> Check {
    let name = "secret store.key";
    let r = config.store.key_ref();
    if let (None, SecretRef::File(p)) = (&config.store.key, &r) {
        if !p.exists() {
            return Check::ok(
                name,
                format!("{r}: not created yet (the daemon creates it on first start)"),
            );
        }
    }
    if let SecretRef::File(p) = &r
        && let Err(e) = std::fs::File::open(p)
        && e.kind() == std::io::ErrorKind::PermissionDenied
    {
        // A member of the service's group: the key set is the service user's alone.
        return Check::skip(
            name,
            format!(
                "{r}: only its owner can read it ({e}); run `medsettle doctor` as root to check it"
            ),
        );
    }
    let world_readable = Secret::load(&r, dir).is_ok_and(|s| s.world_readable);
    match crate::store::KeySet::load(&r, dir) {
        Err(e) => Check::fail(
            name,
            e.to_string(),
            "恢复密钥文件（每行 ID:BASE64）/ restore the key file (one ID:BASE64 per line); `medsettle store keygen` prints a new key",
        ),
        Ok(_) if world_readable => Check::warn(
            name,
            format!("{r}: readable by every user"),
            "收紧权限：chmod 0600 文件 / restrict it: chmod 0600 FILE",
        ),
        Ok(k) => Check::ok(
            name,
            format!(
                "{r}: {} key(s), sealing with `{}`",
                k.ids().len(),
                k.write_id()
            ),
        ),
    }
}

/// Free space on the filesystem holding `store.path`.
// The statvfs counts are u32 on 32-bit terminals, u64 elsewhere.
#[allow(clippy::unnecessary_cast)]
pub(super) fn disk(config: &Config) -> Check {
    let dir = existing_ancestor(&config.store.path);
    match nix::sys::statvfs::statvfs(&dir) {
        Ok(st) => {
            let block = st.fragment_size() as u64;
            judge::disk(
                st.blocks_available() as u64 * block,
                st.blocks() as u64 * block,
                &dir.display().to_string(),
            )
        }
        Err(e) => Check::fail(
            "disk",
            format!("{}: statvfs: {e}", dir.display()),
            "检查 store.path 所在目录 / check the directory of store.path",
        ),
    }
}

/// The nearest existing directory at or above `path`'s parent.
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut dir = path.parent().unwrap_or(Path::new("/"));
    while !dir.as_os_str().is_empty() && !dir.exists() {
        dir = dir.parent().unwrap_or(Path::new("/"));
    }
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_owned()
    }
}

/// The database and the offline queue, read-only. The first result says whether the file is
/// usable (so the upstream check may open it).
pub(super) fn database(config: &Config) -> (bool, Vec<Check>) {
    let path = &config.store.path;
    let busy = Duration::from_millis(config.store.busy_timeout_ms);
    let found = match crate::store::inspect(path, busy) {
        Ok(f) => f,
        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let note = format!("{} not created yet; the daemon creates it", path.display());
            return (true, vec![Check::skip("database", note)]);
        }
        Err(StoreError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            // A member of the service's group: the database is the service user's alone.
            let note = format!(
                "{}: only its owner can read it ({source}); run `medsettle doctor` as root to check it",
                path.display()
            );
            return (false, vec![Check::skip("database", note)]);
        }
        Err(e @ StoreError::NewerSchema { .. }) => {
            let fix = "安装新版 medsettle，或恢复与本版本匹配的备份；不要手工降级 / install the newer medsettle, or restore a backup made by this version; never downgrade by hand";
            return (false, vec![Check::fail("database", refusal(&e), fix)]);
        }
        Err(e) if e.is_corruption() => {
            let fix = "停止服务后重启：损坏的库会被移到旁边并新建（保留旧文件以便恢复） / stop the daemon and start it again: the corrupt file is moved aside and a new one created (keep the old file for recovery)";
            return (false, vec![Check::fail("database", refusal(&e), fix)]);
        }
        Err(e) => {
            let fix = "检查 store.path 与文件权限 / check store.path and the file's permissions";
            return (false, vec![Check::fail("database", refusal(&e), fix)]);
        }
    };
    let database = judge::database(&found);
    let usable = database.result != crate::doctor::Verdict::Fail;
    let mut checks = vec![database];
    if let Some(q) = &found.offline {
        let now = chrono::Utc::now().timestamp_millis();
        let age = q.oldest_created_at_ms.map(|t| now - t);
        checks.push(judge::queue(
            q.count,
            age,
            config.settle.offline_max_age_hours,
        ));
    }
    (usable, checks)
}

/// The first line of a store error (its operator advice comes in the FIX column instead).
fn refusal(e: &StoreError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// `api.listen`: free, or answered `/healthz` by a medsettle already running there.
pub(super) async fn api_listen(config: &Config) -> Check {
    const NAME: &str = "api.listen";
    let mut addr = config.api.listen;
    if addr.port() == 0 {
        return Check::skip(NAME, "port 0: the daemon picks a free port at start");
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let connect = tokio::net::TcpStream::connect(addr);
    match tokio::time::timeout(Duration::from_secs(2), connect).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Check::ok(NAME, format!("{} is free", config.api.listen));
        }
        Ok(Ok(_)) => {}
        _ => {
            return Check::warn(
                NAME,
                format!("{}: no answer to a connect", config.api.listen),
                "检查防火墙和 api.listen 地址 / check the firewall and the api.listen address",
            );
        }
    }
    let url = format!("http://{addr}/healthz");
    let answer = async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(3))
            .build()
            .ok()?;
        let r = client.get(&url).send().await.ok()?;
        r.json::<serde_json::Value>().await.ok()
    };
    match answer.await {
        Some(v) if v.get("phase").is_some() => Check::ok(
            NAME,
            format!(
                "{} held by a running medsettle (phase {})",
                config.api.listen, v["phase"]
            ),
        ),
        _ => Check::fail(
            NAME,
            format!("{} is used by another program", config.api.listen),
            "找出占用端口的程序（ss -ltnp）并停止它，或修改 api.listen / find the program holding the port (ss -ltnp) and stop it, or change api.listen",
        ),
    }
}
