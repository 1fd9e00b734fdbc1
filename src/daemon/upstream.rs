//! Builds the platform [`Client`] from the configuration (wiring: `upstream` never reads the
//! config): loads the secrets, the CA bundle and the signing key, fills the envelope's terminal
//! fields, the 9001 identity and who asks `ec.query`.
//!
//! Fails with a message naming the key at fault; touches the network not at all (the first
//! request signs in).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Secret, SecretRef, TerminalMode, UpstreamConfig};
use crate::store::Store;
use crate::upstream::client::{Client, ClientParts, Clock};
use crate::upstream::envelope::Terminal;
use crate::upstream::msgid_source::MsgIdSource;
use crate::upstream::signing::RequestSigner;
use crate::upstream::transport::{Transport, TransportSettings, read_ca_bundle};
use crate::upstream::tx::evoucher::{EcClient, SELF_SERVICE};

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("no [upstream] section in the configuration")]
    NotConfigured,
    #[error("upstream.{key}: {reason}")]
    Key { key: &'static str, reason: String },
}

fn key_error(key: &'static str) -> impl Fn(String) -> SetupError {
    move |reason| SetupError::Key { key, reason }
}

fn secret(r: &SecretRef, dir: Option<&Path>, key: &'static str) -> Result<Secret, SetupError> {
    Secret::load(r, dir).map_err(|e| key_error(key)(e.to_string()))
}

/// The envelope fields of this terminal.
pub fn terminal_fields(config: &Config, up: &UpstreamConfig) -> Terminal {
    let kiosk = config.terminal.mode == TerminalMode::Kiosk;
    Terminal {
        mdtrtarea_admvs: config.terminal.region.clone(),
        recer_sys_code: up.recer_sys_code.clone(),
        dev_no: config.terminal.device_no.clone(),
        dev_safe_info: String::new(),
        signtype: String::new(),
        infver: up.infver.clone(),
        opter_type: if kiosk { "2" } else { "1" }.to_owned(),
        opter: if kiosk || up.opter.is_empty() {
            config.terminal.id.clone()
        } else {
            up.opter.clone()
        },
        opter_name: if kiosk || up.opter_name.is_empty() {
            config.terminal.id.clone()
        } else {
            up.opter_name.clone()
        },
        fixmedins_code: config.terminal.fixmedins_code.clone(),
        fixmedins_name: config.terminal.fixmedins_name.clone(),
    }
}

/// The platform client for `config`, recording into `store`.
pub fn build(
    config: &Config,
    store: Store,
    credentials_dir: Option<&Path>,
    clock: Option<Clock>,
) -> Result<Client, SetupError> {
    let up = config.upstream.as_ref().ok_or(SetupError::NotConfigured)?;
    let ca_bundle_pem = match &up.ca_bundle {
        Some(p) => Some(read_ca_bundle(p).map_err(|e| key_error("ca_bundle")(e.to_string()))?),
        None => None,
    };
    let client_identity_pem = match (&up.client_cert, &up.client_key) {
        (Some(c), Some(k)) => Some((
            secret(c, credentials_dir, "client_cert")?,
            secret(k, credentials_dir, "client_key")?,
        )),
        _ => None,
    };
    let settings = TransportSettings {
        connect_timeout: Duration::from_millis(up.connect_timeout_ms),
        read_timeout: Duration::from_millis(up.read_timeout_ms),
        total_timeout: Duration::from_millis(up.timeout_ms),
        pool_idle_timeout: Duration::from_millis(up.pool_idle_timeout_ms),
        ca_bundle_pem,
        client_identity_pem,
    };
    let transport = Transport::new(&settings).map_err(|e| key_error("base_url")(e.to_string()))?;
    let sign_key = match &up.sign_key {
        Some(r) => Some(secret(r, credentials_dir, "sign_key")?),
        None => None,
    };
    let signer = RequestSigner::new(up.signtype, sign_key.as_ref().map(Secret::expose))
        .map_err(|e| key_error("sign_key")(e.to_string()))?;
    let tif = match &up.tif {
        Some(t) => Some((
            t.paasid.clone(),
            secret(&t.token, credentials_dir, "tif.token")?,
        )),
        None => None,
    };
    let layout = config
        .terminal
        .msgid_layout()
        .map_err(|e| key_error(e.key)(e.message))?;
    let mut msgids = MsgIdSource::new(store.clone(), &config.terminal.fixmedins_code, Some(layout))
        .map_err(|e| key_error("terminal.fixmedins_code")(e.to_string()))?;
    // A narrow counter part could repeat a value a previous run used in this very second (see
    // `MsgIdSource::after_restart_at`); a wide one would need ~900 ids in that second.
    let clock = clock.unwrap_or_else(|| Arc::new(chrono::Utc::now));
    if layout.per_second() < 1_000 {
        msgids = msgids.after_restart_at(clock());
    }
    let terminal = terminal_fields(config, up);
    let (mac, ip) = local_identity(&up.base_url);
    Ok(Client::new(ClientParts {
        transport,
        url: format!("{}{}", up.base_url.trim_end_matches('/'), up.path),
        urls: up
            .paths
            .keys()
            .map(|infno| (infno.clone(), up.url_for(infno)))
            .collect(),
        file_in_encoding: up.file_in_encoding,
        ec_url: up.ec_url.clone(),
        ec_who: who(config, &terminal),
        sign_in_identity: (terminal.opter.clone(), mac, ip),
        terminal,
        signer,
        tif,
        msgids,
        store,
        signin_rejected_prefix: up.signin_rejected_prefix.clone(),
        clock,
    }))
}

/// The MAC and IP address the platform sees in 9001: the local address a socket towards the
/// platform would use (no packet is sent) and that interface's hardware address. Best effort:
/// empty strings when unknown.
fn local_identity(base_url: &str) -> (String, String) {
    let host_port = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let with_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port
    } else {
        format!("{host_port}:443")
    };
    let ip = std::net::ToSocketAddrs::to_socket_addrs(&with_port)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .and_then(|target| {
            let bind = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let socket = std::net::UdpSocket::bind(bind).ok()?;
            socket.connect(target).ok()?;
            socket.local_addr().ok()
        })
        .map(|a| a.ip());
    let mac = ip.and_then(mac_of).unwrap_or_default();
    (mac, ip.map(|i| i.to_string()).unwrap_or_default())
}

/// The hardware address of the interface holding `ip`, from /sys (Linux).
fn mac_of(ip: std::net::IpAddr) -> Option<String> {
    if ip.is_loopback() {
        return Some("00:00:00:00:00:00".to_owned());
    }
    // The first interface that is up: a terminal PC usually has exactly one.
    let dir = std::fs::read_dir("/sys/class/net").ok()?;
    dir.flatten()
        .filter(|e| e.file_name() != "lo")
        .filter(|e| {
            std::fs::read_to_string(e.path().join("operstate")).is_ok_and(|s| s.trim() == "up")
        })
        .find_map(|e| {
            let mac = std::fs::read_to_string(e.path().join("address")).ok()?;
            let mac = mac.trim().to_uppercase();
            (mac.len() == 17).then_some(mac)
        })
}

/// Who asks `ec.query`: the configured institution, the envelope's operator, this device.
pub fn who(config: &Config, terminal: &Terminal) -> EcClient {
    let t = &config.terminal;
    EcClient {
        org_id: t.fixmedins_code.clone(),
        operator_id: terminal.opter.clone(),
        operator_name: terminal.opter_name.clone(),
        office_id: t.id.clone(),
        office_name: t.fixmedins_name.clone(),
        device_type: match t.mode {
            TerminalMode::Kiosk => SELF_SERVICE.to_owned(),
            TerminalMode::Counter => "Counter".to_owned(),
        },
    }
}
