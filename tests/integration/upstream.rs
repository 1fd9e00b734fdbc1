//! The platform client against the sandbox insurer over real loopback HTTP: a contract test per
//! transaction, the fault matrix, the sign-in lifecycle, signatures, msgid uniqueness across a
//! restart, the daemon's sign-in/sign-out, and the operator CLI.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use medsettle::qr::evoucher::{BusinessType, EVoucherCode};
use medsettle::store::Store;
use medsettle::upstream::calls::{cancellation, settlement};
use medsettle::upstream::client::{CallOptions, Client, Prepared};
use medsettle::upstream::ec::HttpEcDecoder;
use medsettle::upstream::tx::fee::FeeDetail;
use medsettle::upstream::tx::identify;
use medsettle::upstream::tx::outpatient::{
    FeeUploadInput, OutpatientInput, OutpatientSettle, Registration, RegistrationInput,
};
use medsettle::upstream::tx::person::{CertType, PersonQueryInput};
use medsettle::upstream::tx::pharmacy::{FeeNode, PharmacyInput, PharmacySale};
use medsettle::upstream::tx::reverse::{
    Cancel, CancelInput, ReconcileInput, ReversalInput, Statement,
};
use medsettle::upstream::tx::settle::Settlement;
use medsettle::upstream::{Fen, Price, Qty, UnknownCause, UpstreamError, time};
use medsettle_sandbox::{Fault, FaultRule, Sandbox, SandboxConfig, SettlementStatus};

use crate::support::{InProcess, Terminal};

const ZHANGSAN_ID: &str = "110105199003071239";
const ZHANGSAN_PSN: &str = "P110105000001";
const ZHANGSAN_CARD: &str = "M12345678";
const ZHANGSAN_CARD_SN: &str = "110105D15600000500A1B2C3D4E5F601";
const REGION: &str = "110105";

/// A terminal wired to a sandbox, with a clock the test can move.
struct Rig {
    sandbox: Sandbox,
    terminal: Terminal,
    store: Store,
    client: Arc<Client>,
    /// Seconds added to the real clock.
    offset: Arc<AtomicI64>,
}

fn upstream_section(base_url: &str, ec_url: &str, extra: &str) -> String {
    format!(
        r#"
[upstream]
base_url = "{base_url}"
ec_url = "{ec_url}"
allow_plain_http = true
signtype = "SM3"
connect_timeout_ms = 500
read_timeout_ms = 1500
timeout_ms = 2000
{extra}
"#
    )
}

async fn rig_with(sandbox_config: SandboxConfig, extra: &str) -> Rig {
    let sandbox = medsettle_sandbox::start(sandbox_config).await.unwrap();
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), extra);
    let terminal = Terminal::with(|t| t.push_str(&section));
    let (store, client, offset) = connect(&terminal).await;
    Rig {
        sandbox,
        terminal,
        store,
        client,
        offset,
    }
}

async fn rig() -> Rig {
    rig_with(SandboxConfig::default(), "").await
}

async fn connect(terminal: &Terminal) -> (Store, Arc<Client>, Arc<AtomicI64>) {
    connect_node(terminal, None).await
}

async fn connect_node(
    terminal: &Terminal,
    node: Option<u8>,
) -> (Store, Arc<Client>, Arc<AtomicI64>) {
    let mut config = terminal.config();
    config.terminal.msgid_node = node.map(u16::from);
    let (store, _) = Store::open(&terminal.db_path(), Duration::from_secs(5)).unwrap();
    let offset = Arc::new(AtomicI64::new(0));
    let o = Arc::clone(&offset);
    let clock = Arc::new(move || Utc::now() + chrono::Duration::seconds(o.load(Ordering::SeqCst)));
    let client =
        medsettle::daemon::upstream::build(&config, store.clone(), None, Some(clock)).unwrap();
    (store, Arc::new(client), offset)
}

impl Rig {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.offset.load(Ordering::SeqCst))
    }

    async fn close(self) {
        self.store.close().await.unwrap();
        self.sandbox.shutdown().await;
    }

    /// 1101 by card for 张三: (psn_no, 参保地, balance).
    async fn identify_zhangsan(&self) -> (String, String, Fen) {
        let query = PersonQueryInput {
            data: medsettle::upstream::tx::person::PersonQuery {
                mdtrt_cert_type: CertType::SocialSecurityCard,
                mdtrt_cert_no: ZHANGSAN_CARD.into(),
                card_sn: ZHANGSAN_CARD_SN.into(),
                begntime: time::format_inf_time(self.now()),
                psn_cert_type: "01".into(),
                certno: ZHANGSAN_ID.into(),
                psn_name: "测试张三".into(),
            },
        };
        let info = self
            .client
            .person_info(&query, &CallOptions::default())
            .await
            .unwrap();
        let insu = &info.insuinfo[0];
        (
            info.baseinfo.psn_no.as_ref().unwrap().expose().to_owned(),
            insu.insuplc_admdvs.clone().unwrap(),
            insu.balc,
        )
    }

    fn pharmacy_sale(&self, psn_no: &str, chrg_bchno: &str) -> PharmacyInput {
        let at = time::format_inf_time(self.now());
        let line = |sn: &str, code: &str, cnt: &str, pric: &str| FeeDetail {
            feedetl_sn: sn.into(),
            psn_no: psn_no.into(),
            chrg_bchno: chrg_bchno.into(),
            fee_ocur_time: at.clone(),
            med_list_codg: code.into(),
            medins_list_codg: format!("L-{code}"),
            cnt: Qty::parse(cnt).unwrap(),
            pric: Price::parse(pric).unwrap(),
            det_item_fee_sumamt: medsettle::upstream::quantity::line_amount(
                Qty::parse(cnt).unwrap(),
                Price::parse(pric).unwrap(),
            )
            .unwrap(),
            ..FeeDetail::default()
        };
        let lines = vec![
            line("1", "XA01BAA123A001010100001", "2", "45.500000"),
            line("2", "ZB02CAA456B002020200002", "1", "37.500000"),
        ];
        let total = Fen::checked_sum(lines.iter().map(|l| l.det_item_fee_sumamt)).unwrap();
        let sale = PharmacySale {
            psn_no: psn_no.into(),
            mdtrt_cert_type: CertType::SocialSecurityCard,
            mdtrt_cert_no: ZHANGSAN_CARD.into(),
            begntime: at,
            medfee_sumamt: total,
            ipt_otp_no: chrg_bchno.into(),
            atddr_no: String::new(),
            dr_name: String::new(),
            fixmedins_code: "H11010500001".into(),
            fixmedins_name: "测试社区卫生服务中心".into(),
            insutype: "310".into(),
            med_type: "41".into(),
            acct_used_flag: true,
            psn_setlway: "01".into(),
            chrg_bchno: chrg_bchno.into(),
            invono: None,
            trace_counts: None,
        };
        PharmacyInput::presettle(sale, lines, FeeNode::Feedetail).unwrap()
    }

    /// 2102 prepared (msgid recorded); no password material in `cainfo` (the card verified
    /// the PIN on the terminal).
    async fn prepare_settle(&self, psn_no: &str, bchno: &str) -> Prepared {
        let settle = self
            .pharmacy_sale(psn_no, bchno)
            .into_settle(&format!("INV{bchno}"));
        let options = CallOptions {
            insuplc_admdvs: Some(REGION.into()),
            password_proof: None,
        };
        self.client
            .prepare(settle.infno(), &settle, &options)
            .await
            .unwrap()
    }

    async fn settle(&self, psn_no: &str, bchno: &str) -> (Prepared, Settlement) {
        let p = self.prepare_settle(psn_no, bchno).await;
        let x = self.client.send(&p).await.unwrap();
        (p, settlement(&x).unwrap())
    }

    async fn reverse(&self, p: &Prepared, psn_no: &str) {
        let r = ReversalInput::of(psn_no, p.msgid.clone(), &p.infno).unwrap();
        self.client.reverse(&r, REGION).await.unwrap();
    }

    async fn audit_outcome(&self, p: &Prepared) -> Option<String> {
        self.store
            .audit(p.msgid.as_str())
            .await
            .unwrap()
            .unwrap()
            .outcome
    }
}

#[tokio::test]
async fn pharmacy_contract_presettle_settle_cancel_reverse_and_reconcile() {
    let rig = rig().await;
    let (psn, region, balance) = rig.identify_zhangsan().await;
    assert_eq!((psn.as_str(), region.as_str()), (ZHANGSAN_PSN, REGION));
    let start_balance = rig.sandbox.ledger().balance(&psn).unwrap();
    assert_eq!(balance, start_balance);

    // 2101: the split, balanced, and nothing settled.
    let pre = rig
        .client
        .presettle_pharmacy(&rig.pharmacy_sale(&psn, "B1"), REGION)
        .await
        .unwrap();
    assert_eq!(pre.setlinfo.medfee_sumamt, Fen(12_850));
    assert!(rig.sandbox.ledger().settlements.is_empty());
    assert_eq!(rig.sandbox.ledger().balance(&psn), Some(start_balance));

    // 2102 with the same split; the account really pays.
    let (p1, s1) = rig.settle(&psn, "B1").await;
    assert_eq!(s1.setlinfo.medfee_sumamt, pre.setlinfo.medfee_sumamt);
    assert_eq!(s1.setlinfo.fund_pay_sumamt, pre.setlinfo.fund_pay_sumamt);
    let after = rig.sandbox.ledger().balance(&psn).unwrap();
    assert_eq!(Fen(start_balance.0 - s1.setlinfo.acct_pay.0), after);
    assert_eq!(s1.setlinfo.balc, Some(after));
    assert_eq!(rig.audit_outcome(&p1).await.as_deref(), Some("ok"));
    let row = rig.store.audit(p1.msgid.as_str()).await.unwrap().unwrap();
    assert!(
        row.request.contains("\"infno\":\"2102\"") && row.response.unwrap().contains("setl_id")
    );

    // A refused 2102 (its chrg_bchno was settled already) is a business refusal with no
    // effect.
    let bad = rig.prepare_settle(&psn, "B1").await;
    let e = rig.client.send(&bad).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Business { .. }), "{e:?}");
    assert_eq!(rig.sandbox.ledger().balance(&psn), Some(after));
    assert_eq!(rig.audit_outcome(&bad).await.as_deref(), Some("business"));

    // 2103 cancels exactly: negated amounts, balance restored.
    let cancel = CancelInput {
        data: Cancel {
            setl_id: s1.setlinfo.setl_id.clone().unwrap(),
            mdtrt_id: s1.setlinfo.mdtrt_id.clone().unwrap_or_default(),
            psn_no: psn.clone().into(),
        },
    };
    let c = rig
        .client
        .prepare(
            "2103",
            &cancel,
            &CallOptions {
                insuplc_admdvs: Some(REGION.into()),
                password_proof: None,
            },
        )
        .await
        .unwrap();
    let cx = rig.client.send(&c).await.unwrap();
    cancellation(&cx).unwrap();
    assert_eq!(rig.sandbox.ledger().balance(&psn), Some(start_balance));
    let l = rig.sandbox.ledger();
    assert_eq!(
        l.by_msgid(p1.msgid.as_str()).unwrap().status,
        SettlementStatus::Cancelled
    );

    // 2601 undoes a settlement.
    let (p2, _) = rig.settle(&psn, "B3").await;
    rig.reverse(&p2, &psn).await;
    let l = rig.sandbox.ledger();
    assert_eq!(
        l.by_msgid(p2.msgid.as_str()).unwrap().status,
        SettlementStatus::Reversed
    );
    assert_eq!(l.balance(&psn), Some(start_balance));

    // 3201 over the group (310, 41 药店, the patient's 参保地): the cancelled B1 counts as a
    // settlement and a refund netting to zero (refd_setl_flag 1, each a line), the reversed
    // B3 not at all, B4 in full; other totals do not balance.
    let (_, s3) = rig.settle(&psn, "B4").await;
    assert_eq!(s3.setlinfo.clr_optins.as_deref(), Some(REGION));
    assert_eq!(s3.setlinfo.clr_type.as_deref(), Some("41"));
    let day = time::format_date(time::cst_day(rig.now()));
    let statement = |medfee: Fen, count: i64| ReconcileInput {
        data: Statement {
            insutype: "310".into(),
            clr_type: "41".into(),
            setl_optins: REGION.into(),
            stmt_begndate: day.clone(),
            stmt_enddate: day.clone(),
            medfee_sumamt: medfee,
            fund_pay_sumamt: s3.setlinfo.fund_pay_sumamt,
            acct_pay: s3.setlinfo.acct_pay,
            fixmedins_setl_cnt: count,
            refd_setl_flag: Some("1".into()),
        },
    };
    let ok = rig
        .client
        .reconcile(&statement(s3.setlinfo.medfee_sumamt, 3))
        .await
        .unwrap();
    assert!(ok.balanced(), "{ok:?}");
    let off = rig
        .client
        .reconcile(&statement(Fen(s3.setlinfo.medfee_sumamt.0 + 1), 3))
        .await
        .unwrap();
    assert!(!off.balanced());
    rig.close().await;
}

#[tokio::test]
async fn outpatient_contract_register_upload_presettle_settle_cancel() {
    let rig = rig().await;
    let (psn, _, start) = rig.identify_zhangsan().await;
    let at = time::format_inf_time(rig.now());
    let reg = RegistrationInput {
        data: Registration {
            psn_no: psn.clone().into(),
            insutype: "310".into(),
            begntime: at.clone(),
            mdtrt_cert_type: CertType::SocialSecurityCard,
            mdtrt_cert_no: ZHANGSAN_CARD.into(),
            ipt_otp_no: "OP0001".into(),
            atddr_no: "D001".into(),
            dr_name: "王医生".into(),
            dept_code: "A03".into(),
            dept_name: "内科".into(),
            caty: "A03".into(),
        },
    };
    let visit = rig.client.register_outpatient(&reg, REGION).await.unwrap();
    let mdtrt_id = visit.mdtrt_id.clone().unwrap();
    // The visit's information (2203A) before any fee line: the platform refuses lines of a
    // visit it knows no med_type or diagnosis of.
    let info = medsettle::upstream::tx::visit::VisitInfoInput {
        mdtrtinfo: medsettle::upstream::tx::visit::VisitInfo {
            mdtrt_id: mdtrt_id.clone(),
            psn_no: psn.clone().into(),
            med_type: "11".into(),
            begntime: at.clone(),
            ..Default::default()
        },
        diseinfo: vec![medsettle::upstream::tx::visit::Diagnosis {
            diag_type: "1".into(),
            diag_srt_no: 1,
            diag_code: "J06.900".into(),
            diag_name: "急性上呼吸道感染".into(),
            diag_dept: "内科".into(),
            dise_dor_no: "D001".into(),
            dise_dor_name: "王医生".into(),
            diag_time: at.clone(),
            vali_flag: "1".into(),
        }],
    };
    let options = CallOptions {
        insuplc_admdvs: Some(REGION.into()),
        password_proof: None,
    };
    rig.client
        .call(
            medsettle::upstream::tx::visit::VISIT_INFO_A,
            &info,
            &options,
        )
        .await
        .unwrap();
    let line = FeeDetail {
        feedetl_sn: "1".into(),
        mdtrt_id: mdtrt_id.clone(),
        psn_no: psn.clone().into(),
        chrg_bchno: "C1".into(),
        fee_ocur_time: at.clone(),
        med_list_codg: "XA01".into(),
        medins_list_codg: "L-XA01".into(),
        cnt: Qty::parse("3").unwrap(),
        pric: Price::parse("20.000000").unwrap(),
        det_item_fee_sumamt: Fen(6_000),
        rx_circ_flag: "0".into(),
        bilg_dept_codg: "A03".into(),
        bilg_dept_name: "内科".into(),
        bilg_dr_codg: "D001".into(),
        bilg_dr_name: "王医生".into(),
        hosp_appr_flag: "1".into(),
        ..FeeDetail::default()
    };
    let upload = FeeUploadInput::new(vec![line]).unwrap();
    let uploaded = rig.client.upload_fees(&upload, REGION).await.unwrap();
    assert_eq!(uploaded.result.len(), 1);
    let pre_input = OutpatientInput {
        data: OutpatientSettle {
            psn_no: psn.clone().into(),
            mdtrt_cert_type: CertType::SocialSecurityCard,
            mdtrt_cert_no: ZHANGSAN_CARD.into(),
            med_type: "11".into(),
            medfee_sumamt: Fen(6_000),
            psn_setlway: "01".into(),
            mdtrt_id: mdtrt_id.clone(),
            chrg_bchno: "C1".into(),
            acct_used_flag: true,
            insutype: "310".into(),
            invono: None,
            fulamt_ownpay_amt: None,
            overlmt_selfpay: None,
            preselfpay_amt: None,
            inscp_scp_amt: None,
            trace_counts: None,
        },
    };
    let pre = rig
        .client
        .presettle_outpatient(&pre_input, REGION)
        .await
        .unwrap();
    assert_eq!(pre.setlinfo.medfee_sumamt, Fen(6_000));
    let settle = pre_input.into_settle("INV-C1", &pre).unwrap();
    let p = rig
        .client
        .prepare(settle.infno(), &settle, &options)
        .await
        .unwrap();
    assert_eq!(p.infno, "2207");
    let s = settlement(&rig.client.send(&p).await.unwrap()).unwrap();
    assert_eq!(
        rig.sandbox.ledger().balance(&psn),
        Some(Fen(start.0 - s.setlinfo.acct_pay.0))
    );
    let cancel = CancelInput {
        data: Cancel {
            setl_id: s.setlinfo.setl_id.clone().unwrap(),
            mdtrt_id,
            psn_no: psn.clone().into(),
        },
    };
    let c = rig
        .client
        .prepare(
            "2208",
            &cancel,
            &CallOptions {
                insuplc_admdvs: Some(REGION.into()),
                password_proof: None,
            },
        )
        .await
        .unwrap();
    cancellation(&rig.client.send(&c).await.unwrap()).unwrap();
    assert_eq!(rig.sandbox.ledger().balance(&psn), Some(start));
    rig.close().await;
}

#[tokio::test]
async fn qr_credentials_identify_through_ec_query_and_the_essc_key() {
    let rig = rig().await;
    // E-voucher: ec.query gives a token and the 参保地; 1101 by token finds the same person.
    let code = rig.sandbox.issue_evoucher(ZHANGSAN_ID).unwrap();
    let decoder = HttpEcDecoder::new(Arc::clone(&rig.client)).unwrap();
    let id = decoder
        .query(
            &EVoucherCode::parse(&code).unwrap(),
            BusinessType::PharmacyPurchase,
        )
        .await
        .unwrap();
    assert_eq!(id.insu_org, REGION);
    let info = rig
        .client
        .person_info(
            &identify::for_ec_token(&id.ec_token.0, rig.now()),
            &CallOptions {
                insuplc_admdvs: Some(id.insu_org.clone()),
                password_proof: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        info.baseinfo.psn_no.as_ref().map(|p| p.expose()),
        Some(ZHANGSAN_PSN)
    );
    // An unknown code is a business refusal.
    let unknown = EVoucherCode::parse("6E3A0F9B2C1D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D").unwrap();
    let e = decoder
        .query(&unknown, BusinessType::PharmacyPurchase)
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Business { .. }), "{e:?}");
    // e-SSC: verified with the sandbox's issuer key, then 1101 by ID number.
    let code = rig.sandbox.mint_essc(ZHANGSAN_ID).unwrap();
    let mut keys = medsettle::qr::essc::KeyRing::new();
    keys.insert_hex(&rig.sandbox.essc_kid(), &rig.sandbox.essc_public_key_hex())
        .unwrap();
    let verifier = medsettle::qr::essc::Verifier::new(keys);
    let guard = medsettle::qr::essc::MemoryReplayGuard::new(4);
    let who = verifier
        .verify(&code, Utc::now().timestamp(), &guard)
        .unwrap();
    let info = rig
        .client
        .person_info(
            &identify::for_essc(&who, rig.now()),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        info.baseinfo.psn_no.as_ref().map(|p| p.expose()),
        Some(ZHANGSAN_PSN)
    );
    rig.close().await;
}

#[tokio::test]
async fn msgids_stay_unique_across_a_restart() {
    let rig = rig().await;
    let mut seen = HashSet::new();
    let query = identify::for_id_number(ZHANGSAN_ID, "", rig.now());
    for _ in 0..15 {
        let x = rig
            .client
            .call("1101", &query, &CallOptions::default())
            .await
            .unwrap();
        assert!(seen.insert(x.msgid.as_str().to_owned()));
    }
    let Rig {
        sandbox,
        terminal,
        store,
        ..
    } = rig;
    store.close().await.unwrap();
    let (store, client, _) = connect(&terminal).await;
    for _ in 0..15 {
        let x = client
            .call("1101", &query, &CallOptions::default())
            .await
            .unwrap();
        assert!(
            seen.insert(x.msgid.as_str().to_owned()),
            "{} reused",
            x.msgid.as_str()
        );
    }
    // 30 queries and two sign-ins, each recorded once in the audit table.
    assert_eq!(seen.len(), 30);
    store.close().await.unwrap();
    let db = rusqlite::Connection::open(terminal.db_path()).unwrap();
    let rows: i64 = db
        .query_row(
            "SELECT count(DISTINCT msgid) FROM upstream_audit",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 32);
    assert_eq!(sandbox.ledger().request_count("9001"), 2);
    sandbox.shutdown().await;
}

/// Each injected fault lands in its error class; what the sandbox did is checked in its ledger.
#[tokio::test]
async fn fault_matrix_maps_every_fault_to_its_class() {
    let rig = rig().await;
    let (psn, _, _) = rig.identify_zhangsan().await;
    let effective = |rig: &Rig, p: &Prepared| {
        rig.sandbox
            .ledger()
            .by_msgid(p.msgid.as_str())
            .is_some_and(|s| s.status == SettlementStatus::Effective)
    };
    struct Case {
        fault: Fault,
        committed: bool,
        check: fn(&UpstreamError) -> bool,
    }
    let cases = [
        Case {
            fault: Fault::DropBeforeCommit,
            committed: false,
            check: |e| {
                matches!(
                    e,
                    UpstreamError::OutcomeUnknown {
                        cause: UnknownCause::Interrupted(_)
                    }
                )
            },
        },
        Case {
            fault: Fault::DropAfterCommit,
            committed: true,
            check: |e| {
                matches!(
                    e,
                    UpstreamError::OutcomeUnknown {
                        cause: UnknownCause::Interrupted(_)
                    }
                )
            },
        },
        Case {
            fault: Fault::Latency { ms: 3_000 },
            committed: true,
            check: |e| matches!(e, UpstreamError::Timeout { .. }),
        },
        Case {
            fault: Fault::HttpStatus {
                status: 503,
                commit: false,
            },
            committed: false,
            check: |e| {
                matches!(
                    e,
                    UpstreamError::OutcomeUnknown {
                        cause: UnknownCause::ServerError(503)
                    }
                )
            },
        },
        Case {
            fault: Fault::HttpStatus {
                status: 502,
                commit: true,
            },
            committed: true,
            check: |e| {
                matches!(
                    e,
                    UpstreamError::OutcomeUnknown {
                        cause: UnknownCause::ServerError(502)
                    }
                )
            },
        },
        Case {
            fault: Fault::MalformedJson { commit: true },
            committed: true,
            check: |e| {
                matches!(
                    e,
                    UpstreamError::OutcomeUnknown {
                        cause: UnknownCause::Unparsable(_)
                    }
                )
            },
        },
        Case {
            fault: Fault::BusinessError {
                message: "医保基金账户已冻结".into(),
            },
            committed: false,
            check: |e| matches!(e, UpstreamError::Business { err_msg, .. } if err_msg == "医保基金账户已冻结"),
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        rig.sandbox
            .inject(FaultRule::times("2102", case.fault.clone(), 1));
        let p = rig.prepare_settle(&psn, &format!("F{i}")).await;
        let e = rig.client.send(&p).await.unwrap_err();
        assert!((case.check)(&e), "{:?} gave {e:?}", case.fault);
        assert_eq!(
            e.outcome_unknown(),
            !matches!(case.fault, Fault::BusinessError { .. }),
            "{:?}",
            case.fault
        );
        assert_eq!(effective(&rig, &p), case.committed, "{:?}", case.fault);
        let expected_audit = if matches!(e, UpstreamError::Business { .. }) {
            "business"
        } else {
            "unknown"
        };
        assert_eq!(rig.audit_outcome(&p).await.as_deref(), Some(expected_audit));
        if case.committed {
            // The same request again (same msgid) gets the platform's original answer and no
            // second effect; then 2601 undoes it.
            let again = rig.client.send(&p).await.unwrap();
            let s = settlement(&again).unwrap();
            let l = rig.sandbox.ledger();
            assert_eq!(
                l.by_msgid(p.msgid.as_str()).unwrap().setl_id,
                s.setlinfo.setl_id.clone().unwrap()
            );
            assert_eq!(
                l.settlements
                    .iter()
                    .filter(|r| r.msgid == p.msgid.as_str())
                    .count(),
                1
            );
            rig.reverse(&p, &psn).await;
        } else {
            // Reversing a request that never took effect is harmless, and the msgid is dead.
            rig.reverse(&p, &psn).await;
            let e = rig.client.send(&p).await.unwrap_err();
            assert!(matches!(e, UpstreamError::Business { .. }), "{e:?}");
        }
        assert!(!effective(&rig, &p));
    }
    assert_eq!(rig.sandbox.ledger().effective().count(), 0);

    // Non-money requests: a 5xx is unknown too; a sandbox that is gone is unreachable.
    rig.sandbox.inject(FaultRule::times(
        "1101",
        Fault::HttpStatus {
            status: 500,
            commit: false,
        },
        1,
    ));
    let query = identify::for_id_number(ZHANGSAN_ID, "", rig.now());
    let e = rig
        .client
        .call("1101", &query, &CallOptions::default())
        .await
        .unwrap_err();
    assert!(e.outcome_unknown(), "{e:?}");
    let Rig {
        sandbox,
        store,
        client,
        ..
    } = rig;
    sandbox.shutdown().await;
    let e = client
        .call("1101", &query, &CallOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable { .. }), "{e:?}");
    assert!(!e.outcome_unknown());
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_session_is_renewed_when_rejected_and_when_the_day_changes() {
    let rig = rig().await;
    let query = |rig: &Rig| identify::for_id_number(ZHANGSAN_ID, "", rig.now());
    let count = |rig: &Rig, infno: &str| rig.sandbox.ledger().request_count(infno);
    rig.client
        .call("1101", &query(&rig), &CallOptions::default())
        .await
        .unwrap();
    rig.client
        .call("1101", &query(&rig), &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(count(&rig, "9001"), 1, "one sign-in serves many requests");
    assert!(rig.client.link_status().signed_in);

    // The platform rejects the session once: sign in again, repeat under a new msgid.
    rig.sandbox.inject(FaultRule::times(
        "1101",
        Fault::BusinessError {
            message: format!("{}：会话已失效", medsettle_sandbox::SIGN_IN_INVALID),
        },
        1,
    ));
    let x = rig
        .client
        .call("1101", &query(&rig), &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(count(&rig, "9001"), 2);
    // A request that moves no money queues its answer's audit row without waiting for it;
    // the writer applies writes in order, so one awaited write after it means it is in.
    rig.store.set_meta("test.barrier", "1").await.unwrap();
    assert_eq!(
        rig.store
            .audit(x.msgid.as_str())
            .await
            .unwrap()
            .unwrap()
            .outcome
            .as_deref(),
        Some("ok")
    );

    // A new CST day needs a new session: the old one is refused by the platform.
    rig.offset.store(86_400, Ordering::SeqCst);
    rig.client
        .call("1101", &query(&rig), &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(count(&rig, "9001"), 3);

    rig.client.sign_out().await.unwrap();
    assert_eq!(count(&rig, "9002"), 1);
    assert!(!rig.client.link_status().signed_in);
    rig.close().await;
}

#[tokio::test]
async fn signatures_sm2_verified_and_mock_sends_none() {
    let dir = tempfile::tempdir().unwrap();
    let secret = medsettle::qr::essc::generate_secret_hex();
    let signer = medsettle::upstream::signing::RequestSigner::new(
        medsettle::config::SignType::Sm2,
        Some(&secret),
    )
    .unwrap();
    // The sandbox knows the terminal's SM2 public key.
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        sm2_public_hex: signer.public_key_hex(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let key_file = dir.path().join("sm2.key");
    let sm2 = format!(
        "signtype = \"SM2\"\nsign_key = {{ file = \"{}\" }}\n",
        key_file.display()
    );
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), "")
        .replace("signtype = \"SM3\"\n", &sm2);
    let q = identify::for_id_number(ZHANGSAN_ID, "", Utc::now());
    // Two terminals of one institution: distinct msgid nodes keep their msgids apart.
    for (key, accepted, node) in [
        (secret.clone(), true, 1),
        (medsettle::qr::essc::generate_secret_hex(), false, 2),
    ] {
        std::fs::write(&key_file, &key).unwrap();
        let terminal = Terminal::with(|t| t.push_str(&section));
        let (store, client, _) = connect_node(&terminal, Some(node)).await;
        let result = client.call("1101", &q, &CallOptions::default()).await;
        match result {
            Ok(_) => assert!(accepted),
            Err(e) => {
                assert!(!accepted, "{e:?}");
                assert!(
                    matches!(&e, UpstreamError::Business { err_msg, .. } if err_msg.contains("签名")),
                    "{e:?}"
                );
            }
        }
        store.close().await.unwrap();
    }

    // MOCK: no signature, so an empty cainfo, and the platform settles.
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), "")
        .replace("signtype = \"SM3\"", "signtype = \"MOCK\"");
    let terminal = Terminal::with(|t| t.push_str(&section));
    let (store, client, offset) = connect(&terminal).await;
    let mock = Rig {
        sandbox,
        terminal,
        store,
        client,
        offset,
    };
    let (psn, _, _) = mock.identify_zhangsan().await;
    let p = mock.prepare_settle(&psn, "M1").await;
    settlement(&mock.client.send(&p).await.unwrap()).unwrap();
    let row = mock.store.audit(p.msgid.as_str()).await.unwrap().unwrap();
    assert!(row.request.contains("\"cainfo\":\"\""), "{}", row.request);
    mock.close().await;
}

/// Waits for an event on `topic` whose data satisfies `pred` (replayed or live).
async fn wait_event(
    bus: &medsettle::events::EventBus,
    topic: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut sub = bus.subscribe(Some(0));
    for e in &sub.replay {
        if e.topic == topic && pred(&e.data) {
            return e.data.clone();
        }
    }
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let e = sub.live.recv().await.unwrap();
            if e.topic == topic && pred(&e.data) {
                return e.data.clone();
            }
        }
    })
    .await
    .expect("event in time")
}

#[tokio::test]
async fn the_daemon_signs_in_at_start_and_out_at_stop() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), "");
    let terminal = Terminal::with(|t| t.push_str(&section));
    let daemon = InProcess::start(&terminal).await;
    wait_event(&daemon.events, "upstream.link", |d| d["signed_in"] == true).await;
    assert_eq!(sandbox.ledger().request_count("9001"), 1);
    let status = crate::support::get_json(&daemon.url("/v1/status")).await;
    assert!(
        status.to_string().contains("signed in to the platform"),
        "{status}"
    );
    daemon.shutdown().await;
    assert_eq!(sandbox.ledger().request_count("9002"), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn the_daemon_starts_while_the_platform_is_down_and_reports_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let section = upstream_section(&base, &format!("{base}/ec"), "");
    let terminal = Terminal::with(|t| t.push_str(&section));
    let daemon = InProcess::start(&terminal).await;
    let link = wait_event(&daemon.events, "upstream.link", |d| d["signed_in"] == false).await;
    assert_eq!(link["error"], "upstream.unreachable");
    daemon.shutdown().await;
}

#[tokio::test]
async fn cli_ping_and_person_lookup() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), "");
    let terminal = Terminal::with(|t| t.push_str(&section));
    let config = terminal.write_config();
    let cfg = config.to_str().unwrap().to_owned();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            // The ID number goes through standard input (`--id-stdin`), never the command line
            // another user could read in /proc.
            let mut args = args;
            let id = args.iter().position(|a| a == "--id").map(|i| {
                args[i] = "--id-stdin".into();
                args.remove(i + 1) + "\n"
            });
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::support::process::run_cli_with_input(&args, None, id.as_deref())
        })
    };
    let (status, out, err) = run(vec![
        "upstream".into(),
        "ping".into(),
        "-c".into(),
        cfg.clone(),
        "--count".into(),
        "3".into(),
    ])
    .await
    .unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert!(
        out.contains("9001 sign-in #3: ok") && out.contains("9002 sign-out: ok"),
        "{out}"
    );
    assert_eq!(sandbox.ledger().request_count("9001"), 3);

    let (status, out, err) = run(vec![
        "upstream".into(),
        "person".into(),
        "-c".into(),
        cfg.clone(),
        "--id".into(),
        ZHANGSAN_ID.into(),
    ])
    .await
    .unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert!(
        out.contains(ZHANGSAN_PSN) && out.contains("110105********1239"),
        "{out}"
    );
    assert!(
        !out.contains(ZHANGSAN_ID) && !out.contains("测试张三"),
        "masked: {out}"
    );

    let (status, out, _) = run(vec![
        "upstream".into(),
        "person".into(),
        "-c".into(),
        cfg.clone(),
        "--id".into(),
        ZHANGSAN_ID.into(),
        "--reveal".into(),
        "--json".into(),
    ])
    .await
    .unwrap();
    assert!(status.success());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["psn_name"], "测试张三");
    assert_eq!(v["insuinfo"][0]["insutype"], "310");

    // A valid ID number the platform does not know: the platform's refusal, code and both languages.
    let unknown_id = format!(
        "11010519491231002{}",
        medsettle::credential::idnumber::check_char("11010519491231002").unwrap()
    );
    let (status, _, err) = run(vec![
        "upstream".into(),
        "person".into(),
        "-c".into(),
        cfg.clone(),
        "--id".into(),
        unknown_id,
    ])
    .await
    .unwrap();
    assert!(!status.success());
    assert!(err.contains("upstream.business"), "{err}");
    // A mistyped one never leaves the terminal.
    let before = sandbox.ledger().request_count("1101");
    let (status, _, err) = run(vec![
        "upstream".into(),
        "person".into(),
        "-c".into(),
        cfg.clone(),
        "--id".into(),
        "110105199003071230".into(),
    ])
    .await
    .unwrap();
    assert!(!status.success());
    assert!(err.contains("id_checksum"), "{err}");
    assert_eq!(sandbox.ledger().request_count("1101"), before);

    // An e-voucher through ec.query.
    let code = sandbox.issue_evoucher(ZHANGSAN_ID).unwrap();
    let (status, out, err) = run(vec![
        "upstream".into(),
        "person".into(),
        "-c".into(),
        cfg,
        "--qr".into(),
        code,
    ])
    .await
    .unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains(ZHANGSAN_PSN), "{out}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn gateway_headers_are_signed_and_a_wrong_token_is_a_gateway_refusal() {
    let sandbox = medsettle_sandbox::start(SandboxConfig {
        tif: Some(("hosp-01".into(), "paas-token-right".into())),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let q = identify::for_id_number(ZHANGSAN_ID, "", Utc::now());
    for (token, node, accepted) in [
        ("paas-token-right", 1, true),
        ("paas-token-wrong", 2, false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("paas-token");
        std::fs::write(&token_file, token).unwrap();
        let extra = format!(
            "\n[upstream.tif]\npaasid = \"hosp-01\"\ntoken = {{ file = \"{}\" }}\n",
            token_file.display()
        );
        let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), &extra);
        let terminal = Terminal::with(|t| t.push_str(&section));
        let (store, client, _) = connect_node(&terminal, Some(node)).await;
        let result = client.call("1101", &q, &CallOptions::default()).await;
        if accepted {
            result.unwrap();
        } else {
            let e = result.unwrap_err();
            assert_eq!(e, UpstreamError::Gateway { status: 401 });
            assert!(!e.outcome_unknown() && !e.is_retryable());
        }
        store.close().await.unwrap();
    }
    // Without the headers at all, the gateway refuses too.
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), "");
    let terminal = Terminal::with(|t| t.push_str(&section));
    let (store, client, _) = connect_node(&terminal, Some(3)).await;
    let e = client
        .call("1101", &q, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e, UpstreamError::Gateway { status: 401 });
    store.close().await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test]
async fn cli_person_from_the_card_in_the_reader() {
    let sandbox = medsettle_sandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cards/normal.json");
    let section = upstream_section(&sandbox.base_url(), &sandbox.ec_url(), "");
    let terminal = Terminal::with(|t| t.push_str(&section));
    // The base config has `[readers] backend = "none"`: switch it to the virtual card.
    let text = terminal.config_with_virtual_card(profile);
    let config = terminal.path().join("card.toml");
    std::fs::write(&config, text).unwrap();
    let cfg = config.to_str().unwrap().to_owned();
    let (status, out, err) = tokio::task::spawn_blocking(move || {
        crate::support::process::run_cli(&["upstream", "person", "-c", &cfg, "--card"], None)
    })
    .await
    .unwrap();
    assert!(status.success(), "{out}\n{err}");
    assert!(
        out.contains(ZHANGSAN_PSN) && out.contains("1500.00"),
        "{out}"
    );
    assert!(!out.contains(ZHANGSAN_ID), "masked: {out}");
    assert_eq!(sandbox.ledger().request_count("1101"), 1);
    sandbox.shutdown().await;
}

/// 3202 over the real client: 9101/9102 on the protocol path or on their own paths, `in` as
/// base64 or a byte array, 9102 answered with the bare ZIP; the settlement the sandbox books
/// behind the terminal's back is reported as the platform's only.
#[tokio::test]
async fn detail_reconciliation_finds_a_platform_only_settlement() {
    use medsettle::settle::detail::{DetailClass, DetailGroup, DetailOptions, reconcile_detail};
    use medsettle::upstream::tx::statement::InEncoding;
    let own_paths = "file_in_encoding = \"bytes\"\npaths = { \"9101\" = \"/fsi/api/fileupload/upload\", \
                     \"9102\" = \"/fsi/api/fileupload/download\" }\n";
    for (extra, encoding) in [("", InEncoding::Base64), (own_paths, InEncoding::Bytes)] {
        let rig = rig_with(SandboxConfig::default(), extra).await;
        let code = rig.terminal.config().terminal.fixmedins_code.clone();
        let day = time::format_date(time::cst_day(rig.now()));
        rig.sandbox.inject_settlement(medsettle_sandbox::Injected {
            setl_id: "SETL-FOREIGN".into(),
            mdtrt_id: "M-FOREIGN".into(),
            psn_no: ZHANGSAN_PSN.into(),
            insutype: "310".into(),
            fixmedins_code: code.clone(),
            day: day.clone(),
            medfee_sumamt: Fen(5_500),
            fund_pay_sumamt: Fen(3_000),
            acct_pay: Fen(500),
            msgid: String::new(),
            clr_type: "41".into(),
            clr_optins: REGION.into(),
        });
        let group = DetailGroup {
            setl_optins: REGION.into(),
            clr_type: "41".into(),
            begin: day.clone(),
            end: day,
        };
        let options = DetailOptions {
            fixmedins_code: code,
            in_encoding: rig.terminal.config().upstream.unwrap().file_in_encoding,
            result_lists_all: true,
        };
        assert_eq!(options.in_encoding, encoding);
        let report = reconcile_detail(rig.client.as_ref(), &group, &[], &options, rig.now())
            .await
            .unwrap();
        let found: Vec<_> = report
            .differences()
            .map(|e| (e.class, e.setl_id.as_str()))
            .collect();
        assert_eq!(found, [(DetailClass::PlatformOnly, "SETL-FOREIGN")]);
        let uploads = rig.sandbox.detail_uploads();
        let expected = if encoding == InEncoding::Bytes {
            "bytes"
        } else {
            "base64"
        };
        assert_eq!(uploads.len(), 1);
        assert_eq!(uploads[0].encoding, expected);
        rig.close().await;
    }
}
