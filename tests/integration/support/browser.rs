//! Headless Chromium driven over the DevTools protocol through a pipe
//! (`--remote-debugging-pipe`: the browser reads NUL-terminated JSON commands on fd 3 and
//! writes answers and events on fd 4). No WebDriver, no extra crates: a shell `exec` moves our
//! stdin/stdout pipes to fds 3/4. Waits are promises evaluated in the page that resolve on a
//! DOM condition (a `MutationObserver`), each with its own deadline — nothing polls or sleeps.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// How long one protocol command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    to_browser: ChildStdin,
    from_browser: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a fresh profile and a blank page of `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // `exec` keeps the PID; fd 3 (commands in) is our stdin pipe, fd 4 (answers out) our
        // stdout pipe; Chromium's own stdio goes to /dev/null and its log to stderr (discarded).
        let script = r#"exec chromium "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#;
        let spawned = Command::new("sh")
            .args(["-c", script, "chromium"])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--window-size={width},{height}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh");
        let mut child = spawned;
        let to_browser = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, from_browser) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        let Ok(message) = serde_json::from_slice::<Value>(&buf) else {
                            continue;
                        };
                        if tx.send(message).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser,
            from_browser,
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target =
            browser.browser_command("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = browser.browser_command(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.command("Page.enable", json!({}));
        browser
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        if let Err(e) = self.to_browser.write_all(&bytes) {
            panic!(
                "chromium is gone ({e}): is it installed? scripts/bootstrap installs Debian's chromium"
            );
        }
        loop {
            let answer = match self.from_browser.recv_timeout(COMMAND_TIMEOUT) {
                Ok(a) => a,
                Err(e) => panic!("no answer from chromium to {method} ({e})"),
            };
            if answer["id"] != id {
                continue; // an event or another answer
            }
            if let Some(error) = answer.get("error") {
                panic!("{method} failed: {error}");
            }
            return answer["result"].clone();
        }
    }

    fn browser_command(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page's session; its `result`.
    pub fn command(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// Opens `url` and returns once the page's `load` event fired.
    pub fn open(&mut self, url: &str) {
        self.command("Page.navigate", json!({ "url": url }));
        loop {
            let event = self
                .from_browser
                .recv_timeout(COMMAND_TIMEOUT)
                .unwrap_or_else(|e| panic!("{url} did not load ({e})"));
            if event["method"] == "Page.loadEventFired" {
                return;
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting it if it is a promise) and returns its value;
    /// a thrown error fails the test with its message.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.command(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        if let Some(details) = r.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or(details["text"].as_str())
                .unwrap_or_default()
                .to_owned();
            panic!("in the page: {text}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until the JavaScript expression `condition` is truthy in the page, re-checking on
    /// every DOM change; fails with the page's text after `within`.
    pub fn wait_for(&mut self, condition: &str, within: Duration) {
        let ms = within.as_millis();
        let script = format!(
            r#"new Promise((resolve, reject) => {{
  const check = () => {{ try {{ return Boolean({condition}); }} catch (_) {{ return false; }} }};
  if (check()) {{ resolve(true); return; }}
  const observer = new MutationObserver(() => {{
    if (check()) {{ observer.disconnect(); clearTimeout(timer); resolve(true); }}
  }});
  observer.observe(document, {{ subtree: true, childList: true, characterData: true, attributes: true }});
  const timer = setTimeout(() => {{
    observer.disconnect();
    reject(new Error('not within {ms} ms: ' + {condition_json} + '\npage: ' + document.body.innerText));
  }}, {ms});
}})"#,
            condition_json = serde_json::to_string(condition).unwrap(),
        );
        self.eval(&script);
    }

    /// The page's whole DOM as HTML.
    pub fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Saves a PNG screenshot of the whole page (not just the window) to `path`; its size in
    /// bytes.
    pub fn screenshot(&mut self, path: &Path) -> usize {
        let metrics = self.command("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let r = self.command(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1 },
            }),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, &png).unwrap();
        png.len()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
