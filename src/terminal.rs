//! The terminal's identity (`[terminal]`): who this point of sale is, for the platform's
//! envelope, the msgid, the iReadCardBas line and status answers. Plain data, below every
//! subsystem that needs it; `config` reads it from the file.

use medsettle_nhsa::msgid::SeqLayout;
use serde::{Deserialize, Serialize};

/// How the terminal is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalMode {
    /// A cashier station or pharmacy counter: staff drive each sale.
    #[default]
    Counter,
    /// A self-service kiosk: the daemon drives the flow for a patient.
    Kiosk,
}

/// Identity of the terminal and its institution.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// Terminal id (终端机编号), printed in the iReadCardBas line and used as operator id on kiosks.
    pub id: String,
    /// Device number (终端设备号 / dev_no).
    #[serde(default)]
    pub device_no: String,
    /// Designated institution code (定点医药机构编号, fixmedins_code).
    pub fixmedins_code: String,
    /// Designated institution name.
    pub fixmedins_name: String,
    /// 就医地 region code of the terminal (mdtrtarea_admvs), 6 digits.
    pub region: String,
    /// `counter` or `kiosk`.
    #[serde(default)]
    pub mode: TerminalMode,
    /// This terminal's number in the msgid sequence, when several terminals share one
    /// `fixmedins_code`: msgids stay unique across them. Default: none (the only terminal).
    #[serde(default)]
    pub msgid_node: Option<u16>,
    /// How many of the sequence's 4 digits hold `msgid_node` (0-3); the rest is the counter.
    /// Default: 1 when `msgid_node` is set (the original one-digit node), else 0.
    #[serde(default)]
    pub msgid_node_digits: Option<u8>,
    /// The most msgids this terminal may need within one second; the configuration is refused
    /// when the counter part cannot hold that many. Default: not checked.
    #[serde(default)]
    pub msgid_peak_per_second: Option<u32>,
}

/// A `[terminal]` msgid setting that cannot work: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgIdSettingError {
    pub key: &'static str,
    pub message: String,
}

impl TerminalConfig {
    /// The demo terminal (`medsettle demo`, tests): a community health centre in Beijing.
    pub fn demo() -> TerminalConfig {
        TerminalConfig {
            id: "DEMO0001".to_owned(),
            device_no: "DEMO-DEVICE-01".to_owned(),
            fixmedins_code: "H11010500001".to_owned(),
            fixmedins_name: "演示社区卫生服务中心".to_owned(),
            region: "110105".to_owned(),
            mode: TerminalMode::Counter,
            msgid_node: None,
            msgid_node_digits: None,
            msgid_peak_per_second: None,
        }
    }

    /// How this terminal shares the msgid sequence field: `msgid_node` in
    /// `msgid_node_digits` digits (1 when only the node is given, as before that key existed),
    /// the counter in the rest; checked against `msgid_peak_per_second` when that is set.
    pub fn msgid_layout(&self) -> Result<SeqLayout, MsgIdSettingError> {
        let bad = |key: &'static str, message: String| Err(MsgIdSettingError { key, message });
        let digits = match (self.msgid_node, self.msgid_node_digits) {
            (_, Some(d)) if d > SeqLayout::MAX_NODE_DIGITS => {
                return bad(
                    "terminal.msgid_node_digits",
                    format!("must be 0-3 (at least one digit stays for the counter), got {d}"),
                );
            }
            (None, Some(d)) if d > 0 => {
                return bad(
                    "terminal.msgid_node_digits",
                    format!("is {d} but terminal.msgid_node is not set; set both or neither"),
                );
            }
            (Some(_), Some(0)) => {
                return bad(
                    "terminal.msgid_node_digits",
                    "is 0, which leaves no room for terminal.msgid_node; give the node 1-3 digits \
                     or remove msgid_node"
                        .into(),
                );
            }
            (Some(_), None) => 1,
            (_, d) => d.unwrap_or(0),
        };
        let node = self.msgid_node.unwrap_or(0);
        let layout = match SeqLayout::new(node, digits) {
            Ok(layout) => layout,
            Err(_) => {
                let max = 10u32.pow(u32::from(digits)) - 1;
                let hint = if self.msgid_node_digits.is_none() {
                    " (the default width when msgid_node_digits is not set); set \
                     terminal.msgid_node_digits = 2 or 3 for more terminals"
                } else {
                    ""
                };
                return bad(
                    "terminal.msgid_node",
                    format!("{node} does not fit in {digits} digit(s): must be 0-{max}{hint}"),
                );
            }
        };
        match self.msgid_peak_per_second {
            Some(0) => bad(
                "terminal.msgid_peak_per_second",
                "must be at least 1 (or left out)".into(),
            ),
            Some(peak) if peak > u32::from(layout.per_second()) => bad(
                "terminal.msgid_peak_per_second",
                format!(
                    "{peak} msgids per second do not fit: with {digits} node digit(s) the \
                     counter part holds {} per second; use fewer node digits",
                    layout.per_second()
                ),
            ),
            _ => Ok(layout),
        }
    }
}
