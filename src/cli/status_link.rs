//! `medsettle status-link`: asks the running daemon for a one-time link to its status page and
//! prints it. The link opens a 12-hour browser session once, within 2 minutes; the token itself
//! never appears in a URL or in the browser's history.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::local_api::LocalApi;

pub(super) fn execute(config: &Path) -> ExitCode {
    super::local_api::run(config, |api| async move {
        let url = link(&api).await?;
        println!("{url}");
        eprintln!(
            "一次性链接，2 分钟内有效，只能打开一次。/ One-time link: valid for 2 minutes, works once."
        );
        Ok(ExitCode::SUCCESS)
    })
}

async fn link(api: &LocalApi) -> anyhow::Result<String> {
    let answer = api.post("/v1/ui/links", &json!({})).await?.ok()?;
    let path = answer["path"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the daemon's answer has no link path: {answer}"))?;
    Ok(format!("{}{path}", api.link_base()))
}
