//! `medsettle doctor`'s platform checks: DNS for the host of `upstream.base_url`, a TCP
//! connect, then a sign-in (9001) through the project's own client (TLS handshake included for
//! https) with its round trip, the clock skew against the platform's answer, and a sign-out
//! (9002). The sign-in opens the database (msgid counter, audit), so it runs only when the
//! database check found the file usable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::doctor::{Check, judge};
use crate::error::UserFacing as _;
use crate::store::Store;

const CHECK_NETWORK: &str = "检查网络、网关和防火墙（医保专网/VPN 是否连通） / check the network, gateway and firewall (is the insurance private network/VPN up?)";

/// Every upstream check; one skip row when `[upstream]` is absent.
pub(super) async fn checks(config: &Config, path: &Path, database_usable: bool) -> Vec<Check> {
    let Some(up) = &config.upstream else {
        return vec![Check::skip("upstream", "no [upstream] section")];
    };
    let mut out = Vec::new();
    let (host, port, https) = match endpoint(&up.base_url) {
        Some(e) => e,
        None => {
            out.push(Check::fail(
                "upstream.dns",
                "upstream.base_url has no host",
                "修正 upstream.base_url / fix upstream.base_url",
            ));
            return out;
        }
    };
    let timeout = Duration::from_millis(up.connect_timeout_ms.max(500));
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout * 4, lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            out.push(Check::fail(
                "upstream.dns",
                format!("{host}: {e}"),
                dns_fix(),
            ));
            return out;
        }
        Err(_) => {
            out.push(Check::fail(
                "upstream.dns",
                format!("{host}: no answer"),
                dns_fix(),
            ));
            return out;
        }
    };
    let Some(first) = addrs.first().copied() else {
        out.push(Check::fail(
            "upstream.dns",
            format!("{host}: no address"),
            dns_fix(),
        ));
        return out;
    };
    out.push(Check::ok("upstream.dns", format!("{host} → {first}")));
    let started = Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(first)).await {
        Ok(Ok(_)) => out.push(Check::ok(
            "upstream.tcp",
            format!("{first} connected in {:.1} ms", ms(started.elapsed())),
        )),
        Ok(Err(e)) => {
            out.push(Check::fail(
                "upstream.tcp",
                format!("{first}: {e}"),
                CHECK_NETWORK,
            ));
            return out;
        }
        Err(_) => {
            out.push(Check::fail(
                "upstream.tcp",
                format!("{first}: no answer within {} ms", timeout.as_millis()),
                CHECK_NETWORK,
            ));
            return out;
        }
    }
    if !database_usable {
        out.push(Check::skip(
            "upstream.signin",
            "not tried: the database is not usable (see database)",
        ));
        return out;
    }
    // Run as root before the service's first start, opening the database would create it
    // (and its key) owned by root: the service could then not start.
    if let Err(why) = crate::cli::state::may_create(config, "medsettle doctor") {
        out.push(Check::skip("upstream.signin", format!("not tried: {why}")));
        return out;
    }
    // Outside the service, credentials are read from the files the unit loads them from.
    let mut config = config.clone();
    crate::cli::credentials::resolve_all(&mut config, path);
    out.extend(sign_in(&config, https).await);
    out
}

/// 9001, clock skew, 9002.
async fn sign_in(config: &Config, https: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let store_config = config.store.options();
    let opened = tokio::task::spawn_blocking(move || {
        let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
        Store::open_configured(&store_config, creds.as_deref())
    })
    .await;
    let store = match opened {
        Ok(Ok((s, _))) => s,
        Ok(Err(e)) => {
            out.push(Check::skip(
                "upstream.signin",
                format!("not tried: database: {}", e.code()),
            ));
            return out;
        }
        Err(_) => return out,
    };
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let client =
        match crate::daemon::upstream::build(config, store.clone(), credentials.as_deref(), None) {
            Ok(c) => c,
            Err(e) => {
                out.push(Check::fail(
                    "upstream.signin",
                    e.to_string(),
                    "修正 [upstream] 的证书/密钥配置 / fix the certificates and keys in [upstream]",
                ));
                let _ = store.close().await;
                return out;
            }
        };
    let tls = if https { "TLS + " } else { "" };
    match client.sign_in_timed().await {
        Ok(t) => {
            out.push(Check::ok(
                "upstream.signin",
                format!("{tls}9001 sign-in in {:.1} ms", ms(t.round_trip)),
            ));
            out.push(match t.platform_time {
                Some(platform) => {
                    judge::clock_skew((t.local_midpoint - platform).num_milliseconds())
                }
                None => Check::skip("upstream.clock", "the platform's answer carries no time"),
            });
            if let Err(e) = client.sign_out().await {
                out.push(Check::warn(
                    "upstream.signout",
                    format!("9002: {}", e.code()),
                    "无需处理，会话当日失效 / nothing to do; the session expires today",
                ));
            }
        }
        Err(e) => {
            let fix = if e.code() == "upstream.unreachable" && https {
                "检查 upstream.ca_bundle 与客户端证书，以及系统时间 / check upstream.ca_bundle, the client certificate and the system time"
            } else if e.code() == "upstream.business" {
                "核对 [terminal] 的机构编码、区划与 upstream 账号 / check the institution code, region and operator in [terminal] and [upstream]"
            } else {
                CHECK_NETWORK
            };
            out.push(Check::fail(
                "upstream.signin",
                format!("{tls}9001: {} ({})", e.code(), e.message_en()),
                fix,
            ));
        }
    }
    let _ = store.close().await;
    out
}

fn dns_fix() -> &'static str {
    "检查 /etc/resolv.conf 或在 /etc/hosts 中加入平台地址 / check /etc/resolv.conf or add the platform to /etc/hosts"
}

/// Host, port and whether TLS is used, from `base_url`.
fn endpoint(base_url: &str) -> Option<(String, u16, bool)> {
    let url = reqwest::Url::parse(base_url).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']).to_owned();
    let port = url.port_or_known_default()?;
    Some((host, port, url.scheme() == "https"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
