//! Test helpers: a [`Client`] that builds envelopes (fields per upstream.md), signs in and
//! posts them; fixture persons; a settlement checker enforcing upstream.md's invariants.

use chrono::{DateTime, Duration, Utc};
use medsettle_nhsa::msgid::MsgId;
use medsettle_nhsa::signing::{Cainfo, RequestSigner, signed_message};
use medsettle_nhsa::time;
use medsettle_nhsa::tx::settle::Settlement;
use medsettle_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

pub const CODE: &str = "P11010500123";

/// A fixture person.
pub struct P {
    pub psn_no: &'static str,
    pub certno: &'static str,
    pub card: &'static str,
    pub card_sn: &'static str,
    pub region: &'static str,
    pub insutype: &'static str,
}

pub const ZHANG: P = P {
    psn_no: "P110105000001",
    certno: "110105199003071239",
    card: "M12345678",
    card_sn: "110105D15600000500A1B2C3D4E5F601",
    region: "110105",
    insutype: "310",
};
pub const LI: P = P {
    psn_no: "P310104000002",
    certno: "310104198511202465",
    card: "M23456789",
    card_sn: "310104D156000005A1B2C3D4E5F60702",
    region: "310104",
    insutype: "310",
};
pub const WANG_SUSPENDED: P = P {
    psn_no: "P110108000003",
    certno: "110108197805120039",
    card: "M34567890",
    card_sn: "110108D15600000500C3D4E5F6A7B803",
    region: "110108",
    insutype: "310",
};
pub const ZHAO_ZERO: P = P {
    psn_no: "P110106000004",
    certno: "110106199208150041",
    card: "M45678901",
    card_sn: "110106D15600000500D4E5F6A7B8C904",
    region: "110106",
    insutype: "310",
};
pub const SUN_RESIDENT: P = P {
    psn_no: "P110102000005",
    certno: "110102195501010028",
    card: "M56789012",
    card_sn: "110102D15600000500E5F6A7B8C9D005",
    region: "110102",
    insutype: "390",
};

/// One request being built.
#[derive(Clone)]
pub struct Env {
    pub infno: String,
    pub msgid: String,
    pub inf_time: String,
    pub fixmedins_code: String,
    pub insuplc_admdvs: String,
    pub signtype: String,
    pub cainfo: Cainfo,
    pub sign_no: String,
    pub input: Value,
}

impl Env {
    pub fn json(&self) -> Value {
        json!({
            "infno": self.infno,
            "msgid": self.msgid,
            "mdtrtarea_admvs": "110105",
            "insuplc_admdvs": self.insuplc_admdvs,
            "recer_sys_code": "YBXT",
            "dev_no": "KIOSK-0001",
            "dev_safe_info": "",
            "cainfo": self.cainfo.render(),
            "signtype": self.signtype,
            "infver": "V1.0",
            "opter_type": "2",
            "opter": "KIOSK-0001",
            "opter_name": "自助终端1号",
            "inf_time": self.inf_time,
            "fixmedins_code": self.fixmedins_code,
            "fixmedins_name": "朝阳示例大药房",
            "sign_no": self.sign_no,
            "input": self.input,
        })
    }

    /// Signs with `signer` (SM3/SM2).
    pub fn signed(mut self, signer: &RequestSigner) -> Self {
        self.signtype = signer.signtype().to_owned();
        let message = signed_message(&self.infno, &self.msgid, &self.inf_time, &self.input);
        self.cainfo.sig = signer.sign(&message);
        self
    }

    pub fn region(mut self, region: &str) -> Self {
        self.insuplc_admdvs = region.to_owned();
        self
    }
}

/// A terminal talking to a fresh sandbox.
pub struct Client {
    pub sb: Sandbox,
    pub http: reqwest::Client,
    pub now: DateTime<Utc>,
    seq: u16,
    pub sign_no: String,
}

impl Client {
    pub async fn new() -> Client {
        Client::with(SandboxConfig::default()).await
    }

    pub async fn with(config: SandboxConfig) -> Client {
        let sb = medsettle_sandbox::start(config).await.unwrap();
        Client {
            sb,
            http: {
                // reqwest is built with rustls but no crypto provider (the daemon picks ring).
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::new()
            },
            now: time::parse_inf_time("2026-11-23 10:00:00").unwrap(),
            seq: 0,
            sign_no: String::new(),
        }
    }

    /// A started sandbox, signed in.
    pub async fn signed_in() -> Client {
        let mut c = Client::new().await;
        c.sign_in().await;
        c
    }

    /// The next request of `infno` at the client's clock (one second later each time).
    pub fn env(&mut self, infno: &str, input: Value) -> Env {
        self.seq += 1;
        self.now += Duration::seconds(1);
        Env {
            infno: infno.to_owned(),
            msgid: MsgId::new(CODE, self.now, self.seq).unwrap().to_string(),
            inf_time: time::format_inf_time(self.now),
            fixmedins_code: CODE.to_owned(),
            insuplc_admdvs: String::new(),
            signtype: "MOCK".to_owned(),
            cainfo: Cainfo::default(),
            sign_no: self.sign_no.clone(),
            input,
        }
    }

    /// A request about `p` (sets 参保地).
    pub fn env_for(&mut self, infno: &str, p: &P, input: Value) -> Env {
        self.env(infno, input).region(p.region)
    }

    pub async fn post_text(&self, body: &Value) -> String {
        let r = self
            .http
            .post(self.sb.url())
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    pub async fn send(&self, env: &Env) -> Value {
        let text = self.post_text(&env.json()).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["inf_refmsgid"], env.msgid.as_str());
        assert_eq!(v["respond_time"].as_str().unwrap().len(), 17);
        v
    }

    pub async fn call(&mut self, infno: &str, input: Value) -> Value {
        let env = self.env(infno, input);
        self.send(&env).await
    }

    pub async fn call_for(&mut self, infno: &str, p: &P, input: Value) -> Value {
        let env = self.env_for(infno, p, input);
        self.send(&env).await
    }

    pub async fn sign_in(&mut self) {
        let out = self
            .call(
                "9001",
                json!({"signIn": {"opter_no": "KIOSK-0001", "mac": "02:00:00:00:00:01", "ip": "192.0.2.10"}}),
            )
            .await;
        ok(&out);
        self.sign_no = out["output"]["signinoutb"]["sign_no"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(self.sign_no.len(), 30);
    }
}

/// Asserts `infcode 0`.
pub fn ok(v: &Value) {
    assert_eq!(v["infcode"], 0, "expected success: {v}");
}

/// Asserts `infcode -1` with an `err_msg` starting with `prefix`.
pub fn refused(v: &Value, prefix: &str) {
    assert_eq!(v["infcode"], -1, "expected a refusal: {v}");
    let msg = v["err_msg"].as_str().unwrap();
    assert!(
        msg.starts_with(prefix),
        "err_msg {msg:?} should start with {prefix:?}"
    );
}

/// Asserts success and the settlement invariants (a `setl_id`; upstream.md's advisory sums
/// hold to the fen: `medfee = fund + psn_part + hosp_part`, `psn_part = acct + cash`);
/// returns the typed settlement.
pub fn settled(v: &Value) -> Settlement {
    ok(v);
    let s: Settlement = serde_json::from_value(v["output"].clone()).unwrap();
    s.check().unwrap();
    let i = &s.setlinfo;
    let sent = medsettle_nhsa::tx::settle::Sent {
        medfee_sumamt: i.medfee_sumamt,
        psn_no: None,
    };
    let found = s.advisories(&sent, &Default::default());
    assert!(found.is_empty(), "{found:?} in {v}");
    assert!(i.psn_part_amt.is_some() && i.psn_cash_pay.is_some(), "{v}");
    s
}

/// Fen from yuan text.
pub fn fen(yuan: &str) -> medsettle_nhsa::money::Fen {
    yuan.parse().unwrap()
}

/// A pharmacy 2101/2102 input for `p` by card with `items` (code, yuan).
pub fn pharmacy(p: &P, items: &[(&str, &str)], acct: &str, bchno: &str) -> Value {
    let total = items.iter().map(|(_, a)| fen(a).0).sum::<i64>();
    let feedetail: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (code, amt))| {
            json!({"feedetl_sn": format!("F{i}"), "det_item_fee_sumamt": amt, "cnt": "1.0000",
                   "pric": amt, "med_list_codg": code, "medins_list_codg": code})
        })
        .collect();
    json!({
        "data": {
            "psn_no": p.psn_no, "mdtrt_cert_type": "03", "mdtrt_cert_no": p.card,
            "begntime": "2026-11-23 10:00:00",
            "medfee_sumamt": medsettle_nhsa::money::Fen(total), "insutype": p.insutype,
            "acct_used_flag": acct, "psn_setlway": "01", "med_type": "41",
            "chrg_bchno": bchno, "invono": "INV-1", "fixmedins_code": CODE,
        },
        "feedetail": feedetail,
    })
}
