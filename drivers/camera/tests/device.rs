//! Choosing a camera by path: a `/dev/v4l/by-id/…`-style symlink resolves to the index of the
//! `videoN` node it leads to, follows the link when it changes (a replugged camera renumbered
//! by the kernel), is retryable while missing and a configuration error when it leads to
//! something that is not a camera node. Real /dev/v4l links are udev's; here they are built
//! in a temporary directory with the same shape.

use std::os::unix::fs::symlink;

use medsettle_camera::CameraDevice;

#[test]
fn by_id_path_resolves_to_the_node_it_leads_to() {
    let dev = tempfile::tempdir().expect("tempdir");
    let by_id = dev.path().join("v4l/by-id");
    std::fs::create_dir_all(&by_id).expect("by-id");
    std::fs::write(dev.path().join("video2"), "").expect("node");
    std::fs::write(dev.path().join("video5"), "").expect("node");
    let link = by_id.join("usb-Acme_QR_Cam_0001-video-index0");
    symlink("../../video2", &link).expect("link");

    let camera = CameraDevice::Path(link.clone());
    assert_eq!(camera.resolve().expect("resolves"), 2);
    assert_eq!(
        camera.node().expect("node"),
        dev.path().join("video2").canonicalize().unwrap()
    );

    // Unplugged: the link is gone; trying again later can help.
    std::fs::remove_file(&link).expect("unplug");
    let missing = camera.resolve().expect_err("no link");
    assert!(missing.is_retryable(), "{missing}");

    // Plugged back in and numbered video5 this time: the same configured path finds it.
    symlink("../../video5", &link).expect("replug");
    assert_eq!(camera.resolve().expect("resolves"), 5);
}

#[test]
fn a_path_to_something_else_is_a_configuration_error() {
    let dev = tempfile::tempdir().expect("tempdir");
    std::fs::write(dev.path().join("ttyACM0"), "").expect("node");
    let link = dev.path().join("usb-Acme_Scanner-if00");
    symlink("ttyACM0", &link).expect("link");
    let err = CameraDevice::Path(link)
        .resolve()
        .expect_err("not a camera");
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("not a /dev/videoN camera node"),
        "{err}"
    );
}

#[test]
fn an_index_is_its_own_node() {
    let camera: CameraDevice = "7".parse().unwrap();
    assert_eq!(camera.resolve().expect("index"), 7);
    assert_eq!(
        camera.node().expect("node"),
        std::path::Path::new("/dev/video7")
    );
    assert_eq!(camera.to_string(), "7");
}
