//! The terminal's identity (`[terminal]`): who this point of sale is, for the platform's
//! envelope, the msgid, the iReadCardBas line and status answers. Plain data, below every
//! subsystem that needs it; `config` reads it from the file.

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
    /// This terminal's digit (0-9) in the msgid sequence, when several terminals share one
    /// `fixmedins_code`: msgids stay unique across them. Default: none (the only terminal).
    #[serde(default)]
    pub msgid_node: Option<u8>,
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
        }
    }
}
