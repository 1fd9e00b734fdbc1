//! Validation of the `[terminal]` msgid keys: the node must fit its width, the width must
//! leave a counter digit, and a declared peak rate must fit the counter part.

use crate::config::Config;

const BASE: &str = r#"
[terminal]
id = "T0001"
fixmedins_code = "H11010500001"
fixmedins_name = "测试药店"
region = "110105"
"#;

const API: &str = r#"
[api]
token = { file = "/etc/medsettle/api-token" }
"#;

fn with(msgid_lines: &str) -> Result<Config, crate::config::ConfigErrors> {
    Config::parse(&format!("{BASE}{msgid_lines}\n{API}"))
}

/// The single problem of `msgid_lines`: its key, line and message.
fn refused(msgid_lines: &str) -> (String, usize, String) {
    let err = with(msgid_lines).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let e = &err.0[0];
    (e.key.clone().unwrap(), e.line.unwrap(), e.message.clone())
}

#[test]
fn the_one_digit_node_of_existing_configs_still_works() {
    let c = with("msgid_node = 3").unwrap();
    let layout = c.terminal.msgid_layout().unwrap();
    assert_eq!((layout.node(), layout.node_digits()), (3, 1));
    assert_eq!(layout.per_second(), 1_000);
    let none = with("").unwrap().terminal.msgid_layout().unwrap();
    assert_eq!(
        (none.node(), none.node_digits(), none.per_second()),
        (0, 0, 10_000)
    );
}

#[test]
fn wider_nodes_need_their_width() {
    let c = with("msgid_node = 417\nmsgid_node_digits = 3").unwrap();
    let layout = c.terminal.msgid_layout().unwrap();
    assert_eq!((layout.node(), layout.per_second()), (417, 10));
    assert!(with("msgid_node = 0\nmsgid_node_digits = 3").is_ok());
    assert!(with("msgid_node = 99\nmsgid_node_digits = 2").is_ok());

    let (key, line, msg) = refused("msgid_node = 417");
    assert_eq!((key.as_str(), line), ("terminal.msgid_node", 7));
    assert!(
        msg.contains("417 does not fit in 1 digit(s): must be 0-9"),
        "{msg}"
    );
    assert!(msg.contains("msgid_node_digits"), "{msg}");

    let (key, _, msg) = refused("msgid_node = 100\nmsgid_node_digits = 2");
    assert_eq!(key, "terminal.msgid_node");
    assert!(msg.contains("must be 0-99"), "{msg}");
}

#[test]
fn the_width_must_leave_a_counter_digit_and_match_the_node() {
    let (key, line, msg) = refused("msgid_node = 1\nmsgid_node_digits = 4");
    assert_eq!((key.as_str(), line), ("terminal.msgid_node_digits", 8));
    assert!(msg.contains("must be 0-3"), "{msg}");

    let (key, _, msg) = refused("msgid_node_digits = 2");
    assert_eq!(key, "terminal.msgid_node_digits");
    assert!(msg.contains("msgid_node is not set"), "{msg}");

    let (key, _, msg) = refused("msgid_node = 1\nmsgid_node_digits = 0");
    assert_eq!(key, "terminal.msgid_node_digits");
    assert!(msg.contains("no room"), "{msg}");

    assert!(with("msgid_node_digits = 0").is_ok());
    assert!(with("msgid_node = 1000\nmsgid_node_digits = 3").is_err());
}

#[test]
fn a_peak_the_counter_part_cannot_hold_is_refused() {
    assert!(with("msgid_node = 417\nmsgid_node_digits = 3\nmsgid_peak_per_second = 10").is_ok());
    let (key, line, msg) =
        refused("msgid_node = 417\nmsgid_node_digits = 3\nmsgid_peak_per_second = 11");
    assert_eq!((key.as_str(), line), ("terminal.msgid_peak_per_second", 9));
    assert!(msg.contains("11 msgids per second do not fit"), "{msg}");
    assert!(msg.contains("holds 10 per second"), "{msg}");

    assert!(with("msgid_node = 41\nmsgid_node_digits = 2\nmsgid_peak_per_second = 100").is_ok());
    assert!(with("msgid_node = 41\nmsgid_node_digits = 2\nmsgid_peak_per_second = 101").is_err());
    assert!(with("msgid_peak_per_second = 10000").is_ok());
    assert!(with("msgid_peak_per_second = 10001").is_err());

    let (key, _, msg) = refused("msgid_peak_per_second = 0");
    assert_eq!(key, "terminal.msgid_peak_per_second");
    assert!(msg.contains("at least 1"), "{msg}");
}

/// The `[qr]` camera keys: one camera, named by an absolute device path or an index.
fn with_qr(qr_lines: &str) -> Result<Config, crate::config::ConfigErrors> {
    Config::parse(&format!("{BASE}\n{API}\n[qr]\n{qr_lines}\n"))
}

#[test]
fn a_camera_is_named_once_and_by_an_absolute_path() {
    let by_id = "/dev/v4l/by-id/usb-Acme_QR_Cam_0001-video-index0";
    let c = with_qr(&format!("camera_device = \"{by_id}\"")).unwrap();
    assert_eq!(
        c.qr.camera_device.as_deref(),
        Some(std::path::Path::new(by_id))
    );
    assert!(with_qr("camera_index = 0").is_ok());

    let both = with_qr(&format!("camera_index = 0\ncamera_device = \"{by_id}\"")).unwrap_err();
    assert_eq!(both.0.len(), 1, "{both}");
    assert_eq!(both.0[0].key.as_deref(), Some("qr.camera_device"));
    assert!(both.0[0].message.contains("keep one"), "{both}");

    let relative = with_qr("camera_device = \"video0\"").unwrap_err();
    assert_eq!(relative.0[0].key.as_deref(), Some("qr.camera_device"));
    assert!(relative.0[0].message.contains("absolute"), "{relative}");
}
