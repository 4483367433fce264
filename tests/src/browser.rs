use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// Headless Debian Chromium driven through chromedriver (WebDriver).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A desktop browser: a 1280×900 window, one device pixel per CSS pixel.
    pub async fn start() -> Self {
        Self::launch("1280,900", 1).await
    }

    /// A phone-sized screen: 390×844 CSS pixels with 3 device pixels each
    /// (an iPhone 12–15's screen), touch input included.
    pub async fn start_phone() -> Self {
        Self::launch("390,844", 3).await
    }

    /// Chromium with a window of `window_size` ("width,height" in CSS
    /// pixels; for a phone, its viewport) and `device_scale_factor` device
    /// pixels per CSS pixel.
    async fn launch(window_size: &str, device_scale_factor: u32) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            // A group of its own, with the Chromium it starts, so that a
            // failed test can take both down (see Drop).
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting /usr/bin/chromedriver (Debian's chromium-driver; `cargo xtask setup` installs it)");
        let profile = tempfile::tempdir().unwrap();
        // As root Chromium needs --no-sandbox; the network flags keep it from
        // reaching for Google's services, which this machine cannot reach.
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={window_size}"),
                    format!("--force-device-scale-factor={device_scale_factor}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let mut capabilities: fantoccini::wd::Capabilities =
            capabilities.as_object().unwrap().clone();
        if device_scale_factor > 1 {
            // Headless windows are at least 500 pixels wide, so a phone's
            // viewport needs device emulation. With the same scale factor as
            // the real one above, the page is still laid out and painted in
            // device pixels (emulating another factor paints at that one and
            // magnifies the result).
            let (width, height) = window_size.split_once(',').unwrap();
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": width.parse::<u32>().unwrap(),
                    "height": height.parse::<u32>().unwrap(),
                    "pixelRatio": device_scale_factor,
                    "touch": true,
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => {
                    panic!("chromedriver did not come up: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// A slow phone on a slow network, through the DevTools protocol:
    /// `cpu_slowdown`× slower CPU, `download_kbps` down (and half that up),
    /// `latency_ms` of round trip. Lighthouse's mobile profile is 4×,
    /// 1,600 kbit/s and 150 ms.
    pub async fn throttle(&self, cpu_slowdown: f64, download_kbps: f64, latency_ms: f64) {
        let bytes_per_second = |kbps: f64| kbps * 1000.0 / 8.0;
        self.devtools(
            "Emulation.setCPUThrottlingRate",
            json!({ "rate": cpu_slowdown }),
        )
        .await;
        self.devtools("Network.enable", json!({})).await;
        self.devtools(
            "Network.emulateNetworkConditions",
            json!({
                "offline": false,
                "latency": latency_ms,
                "downloadThroughput": bytes_per_second(download_kbps),
                "uploadThroughput": bytes_per_second(download_kbps / 2.0),
            }),
        )
        .await;
    }

    /// Runs no script on the pages it loads from now on (or again, with
    /// `false`): what a worker sees before, or without, the hydration bundle.
    pub async fn disable_javascript(&self, disabled: bool) {
        self.devtools(
            "Emulation.setScriptExecutionDisabled",
            json!({ "value": disabled }),
        )
        .await;
    }

    /// Sends a DevTools protocol command through chromedriver.
    async fn devtools(&self, command: &'static str, params: serde_json::Value) {
        self.client
            .issue_cmd(DevTools { command, params })
            .await
            .unwrap_or_else(|error| panic!("{command}: {error}"));
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop ends chromedriver and whatever Chromium is left.
    }
}

/// chromedriver's passage to the DevTools protocol.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A test that panics never reaches `close`: without this its chromedriver
/// and Chromium would outlive it, busy, until the machine restarts.
impl Drop for Browser {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.driver.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.driver.wait();
    }
}

/// Waits (up to a minute) until the JavaScript `expression` is true in the
/// page; `what` names it in the failure.
pub async fn wait_until(page: &Client, what: &str, expression: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let value = page
            .execute(&format!("return Boolean({expression});"), vec![])
            .await
            .unwrap();
        if value == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replaces the text of the input `selector` finds.
pub async fn fill(page: &Client, selector: &str, text: &str) {
    let input = page.find(Locator::Css(selector)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}
