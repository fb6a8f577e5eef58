//! Headless Chromium driven over WebDriver (chromedriver), with the checks every page of a
//! journey must pass: axe-core finds no serious or critical violation, nothing scrolls
//! sideways, and the keyboard focus indicator has at least 3:1 contrast. Each checked page
//! is saved as a screenshot under `target/screenshots/<test>/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::{free_port, port_accepts};

/// The widths every journey runs at: a laptop and a phone.
pub const WIDE: u32 = 1280;
pub const NARROW: u32 = 390;
const HEIGHT: u32 = 900;

/// The Chromium flags a closed network needs (no background fetches that hang or crash).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

pub struct Options {
    pub javascript: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { javascript: true }
    }
}

/// One chromedriver and one Chromium with a fresh profile, owned by one test.
pub struct Chrome {
    pub client: Client,
    base: String,
    width: u32,
    test: String,
    screenshots: PathBuf,
    pages_seen: usize,
    javascript: bool,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn chromium_binary() -> String {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .iter()
        .find(|path| std::path::Path::new(path).exists())
        .map(|path| path.to_string())
        .expect("Chromium is installed (apt-get install chromium chromium-driver)")
}

fn axe_source() -> &'static str {
    static AXE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AXE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/node_modules/axe-core/axe.min.js"
        );
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run npm ci --prefix tests/browser)"))
    })
}

impl Chrome {
    /// Starts chromedriver and a Chromium window `width` px wide showing nothing yet.
    pub async fn start(test: &str, base: &str, width: u32, options: Options) -> Chrome {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts (apt-get install chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !port_accepts(port) {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={width},{HEIGHT}"));
        let mut chrome_options = json!({ "binary": chromium_binary(), "args": args });
        if !options.javascript {
            chrome_options["prefs"] =
                json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session starts");
        let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/screenshots")
            .join(test);
        let _ = std::fs::remove_dir_all(&screenshots);
        std::fs::create_dir_all(&screenshots).expect("screenshot directory");
        let chrome = Chrome {
            client,
            base: base.to_string(),
            width,
            test: test.to_string(),
            screenshots,
            pages_seen: 0,
            javascript: options.javascript,
            driver,
            _profile: profile,
        };
        chrome.fit_viewport().await;
        chrome
    }

    /// Sizes the window so that the page itself (the viewport) is exactly `width` px wide.
    async fn fit_viewport(&self) {
        for _ in 0..3 {
            let inner = self.viewport_width().await;
            if inner == self.width {
                return;
            }
            let (outer, _) = self.client.get_window_size().await.expect("window size");
            let wanted = (outer as i64 + self.width as i64 - inner as i64) as u32;
            self.client
                .set_window_size(wanted, HEIGHT)
                .await
                .expect("resize the window");
        }
        let inner = self.viewport_width().await;
        assert_eq!(
            inner, self.width,
            "the viewport cannot be made {} px wide",
            self.width
        );
    }

    async fn viewport_width(&self) -> u32 {
        // A blank page answers even with JavaScript off: WebDriver's scripts still run.
        self.eval("return window.innerWidth")
            .await
            .as_u64()
            .unwrap_or(0) as u32
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{}", self.base, path)
        } else {
            path.to_string()
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&self.url(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no `{css}` on {}: {e}", self.path().await),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
    }

    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            texts.push(element.text().await.unwrap_or_default().trim().to_string());
        }
        texts
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .expect("text")
            .trim()
            .to_string()
    }

    /// Types into the field labelled by `id`, replacing what it held.
    pub async fn fill(&self, id: &str, value: &str) {
        let field = self.find(&format!("#{id}")).await;
        field.clear().await.expect("clear the field");
        field.send_keys(value).await.expect("type into the field");
    }

    pub async fn select(&self, id: &str, value: &str) {
        self.find(&format!("select#{id}"))
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose {value} in {id}: {e}"));
    }

    /// Clicks the element, as a person would (it must be visible and on screen).
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.mark_document().await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}` at {} px: {e}", self.width));
        self.wait_for_next_document(css).await;
    }

    /// Clicks the button or link whose visible text is `text`.
    pub async fn click_text(&self, text: &str) {
        let xpath = format!(
            "//*[(self::button or self::a) and normalize-space(.)={}]",
            xpath_literal(text)
        );
        let element = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(element) => element,
            Err(e) => panic!("no button or link `{text}` on {}: {e}", self.path().await),
        };
        self.mark_document().await;
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{text}` at {} px: {e}", self.width));
        self.wait_for_next_document(text).await;
    }

    /// Marks the document shown, so that [`Self::wait_for_next_document`] sees it replaced.
    async fn mark_document(&self) {
        self.eval("window.__rosterOldDocument = true;").await;
    }

    /// Every click in the journeys loads a page: wait until the new one has loaded (a click
    /// that submits a form can return before the browser has navigated).
    async fn wait_for_next_document(&self, clicked: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let state = self
                .client
                .execute(
                    "return window.__rosterOldDocument ? 'old' : document.readyState;",
                    vec![],
                )
                .await;
            if matches!(state.as_ref().map(|s| s.as_str()), Ok(Some("complete"))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "clicking `{clicked}` loaded no new page"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// After a failed submit, the error summary has the focus (autofocus, which needs no
    /// script; the browser applies it once the page has rendered).
    pub async fn assert_focus_on_error_summary(&self) {
        let mut focused = Value::Null;
        for _ in 0..40 {
            focused = self.eval("return document.activeElement.className").await;
            if focused.as_str() == Some("error-summary") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "after a failed submit on {} the focus is on `{focused}`, not the error summary",
            self.path().await
        );
    }

    /// Checks the page now shown and saves its screenshot as `<nn>-<name>-<width>.png`.
    pub async fn check_page(&mut self, name: &str) {
        self.pages_seen += 1;
        let label = format!("{:02}-{name}-{}", self.pages_seen, self.width);
        let path = self.path().await;
        self.save_screenshot(&label).await;
        let context = format!("{} page {label} ({path})", self.test);
        self.assert_scripts_ran_only_if_enabled(&context).await;
        self.assert_no_sideways_scrolling(&context).await;
        self.assert_no_serious_axe_violations(&context).await;
        self.assert_visible_focus(&context).await;
    }

    async fn save_screenshot(&self, label: &str) {
        // The whole page, not only the first screenful: make the window as tall as it.
        let height = self
            .eval("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(HEIGHT as u64)
            .clamp(HEIGHT as u64, 6000) as u32;
        let (outer_width, _) = self.client.get_window_size().await.expect("window size");
        let _ = self
            .client
            .set_window_size(outer_width as u32, height)
            .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let _ = self
            .client
            .set_window_size(outer_width as u32, HEIGHT)
            .await;
        std::fs::write(self.screenshots.join(format!("{label}.png")), png)
            .expect("write the screenshot");
    }

    /// The page's own script (`static/copy.js`) marks `<html data-scripts="on">`: present
    /// with JavaScript on, absent when the journey runs without it.
    async fn assert_scripts_ran_only_if_enabled(&self, context: &str) {
        let marked = self
            .eval("return document.documentElement.dataset.scripts || null")
            .await;
        assert_eq!(
            marked.as_str() == Some("on"),
            self.javascript,
            "{context}: JavaScript should be {} but the page's script {}",
            if self.javascript { "on" } else { "off" },
            if marked.is_null() {
                "did not run"
            } else {
                "ran"
            }
        );
    }

    async fn assert_no_sideways_scrolling(&self, context: &str) {
        let sizes = self
            .eval(
                "const wide = [...document.querySelectorAll('body *')]
                   .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                   .slice(0, 5)
                   .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                        + ' right=' + Math.round(e.getBoundingClientRect().right));
                 const spilling = [...document.querySelectorAll('.panel table, .panel pre, .panel form')]
                   .filter(e => e.getBoundingClientRect().right > e.closest('.panel').getBoundingClientRect().right + 0.5)
                   .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
                 return [document.documentElement.scrollWidth, window.innerWidth, wide, spilling];",
            )
            .await;
        let scroll = sizes[0].as_u64().unwrap_or(u64::MAX);
        let inner = sizes[1].as_u64().unwrap_or(0);
        assert!(
            scroll <= inner,
            "{context}: the page scrolls sideways ({scroll} px wide in a {inner} px window); \
             too wide: {}",
            sizes[2]
        );
        let spilling = sizes[3].as_array().cloned().unwrap_or_default();
        assert!(
            spilling.is_empty(),
            "{context}: these spill out of their panel: {spilling:?}"
        );
    }

    async fn assert_no_serious_axe_violations(&self, context: &str) {
        let violations = self.serious_axe_violations(context).await;
        assert!(
            violations.is_empty(),
            "{context}: axe-core found serious or critical violations:\n{}",
            serde_json::to_string_pretty(&violations).unwrap_or_default()
        );
    }

    /// axe-core's violations of impact serious or critical on the page now shown.
    pub async fn serious_axe_violations(&self, context: &str) -> Vec<Value> {
        self.eval(axe_source()).await;
        if !self.javascript {
            // With JavaScript off for the page, timers never fire, but WebDriver's own
            // scripts and promises still run: axe's queue gets its turns as microtasks.
            self.eval(
                "window.setTimeout = (callback, _delay, ...args) => {
                   Promise.resolve().then(() => callback(...args)); return 0; };",
            )
            .await;
        }
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(result => done(result.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.slice(0, 5).map(n => n.html + ' :: ' + n.failureSummary) }))))
                   .catch(error => done([{ id: 'axe-error', help: String(error) }]));",
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("{context}: axe.run failed: {e}"));
        violations.as_array().cloned().unwrap_or_default()
    }

    /// Tabs onto the page (the skip link) and focuses the first control of the header and
    /// of the main content the same keyboard way; each must show a ring of at least 3:1
    /// against what surrounds it.
    async fn assert_visible_focus(&self, context: &str) {
        self.eval(
            "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
        )
        .await;
        let tab = KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            });
        self.client.perform_actions(tab).await.expect("press Tab");
        let mut checked = vec![self.focus_ring("").await];
        for target in [
            "header a, header button",
            "main a, main button, main input:not([type=hidden]), main select, main textarea, main summary",
        ] {
            checked.push(self.focus_ring(target).await);
        }
        for ring in checked.into_iter().flatten() {
            assert!(
                ring.ratio >= 3.0,
                "{context}: the focus indicator of {} has {:.2}:1 contrast against {} \
                 (indicator {:?}); WCAG asks for 3:1",
                ring.element,
                ring.ratio,
                ring.background,
                ring.colours
            );
        }
    }

    /// Focuses the first element matching `target` (the focused one when empty) and reads
    /// its indicator; `None` when the page has no such element.
    async fn focus_ring(&self, target: &str) -> Option<FocusRing> {
        let found = self
            .client
            .execute(
                "const target = arguments[0];
                 const el = target ? document.querySelector(target) : document.activeElement;
                 if (!el || el === document.body) return null;
                 if (target) el.focus();
                 if (document.activeElement !== el) return null;
                 const style = getComputedStyle(el);
                 const rect = el.getBoundingClientRect();
                 const gap = (parseFloat(style.outlineOffset) || 0) + (parseFloat(style.outlineWidth) || 0) + 2;
                 const x = Math.min(Math.max(rect.left + Math.min(rect.width / 2, 12), 1), window.innerWidth - 1);
                 let y = rect.top - gap;
                 if (y < 1) y = rect.bottom + gap;
                 let background = 'rgb(255, 255, 255)';
                 for (const under of document.elementsFromPoint(x, y)) {
                   if (under === el || el.contains(under)) continue;
                   const colour = getComputedStyle(under).backgroundColor;
                   if (colour && !/rgba\\(.*, 0\\)$/.test(colour) && colour !== 'transparent') { background = colour; break; }
                 }
                 const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
                   ? [style.outlineColor] : [];
                 const shadows = style.boxShadow === 'none' ? [] : (style.boxShadow.match(/rgba?\\([^)]*\\)/g) || []);
                 return { element: el.outerHTML.slice(0, 120), focusVisible: el.matches(':focus-visible'),
                          background, colours: outline.concat(shadows) };",
                vec![json!(target)],
            )
            .await
            .expect("read the focus ring");
        if found.is_null() {
            return None;
        }
        let element = found["element"].as_str().unwrap_or_default().to_string();
        let background = found["background"].as_str().unwrap_or_default().to_string();
        let colours: Vec<String> = found["colours"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            found["focusVisible"].as_bool() == Some(true),
            "{element} does not match :focus-visible after keyboard focus"
        );
        let behind = parse_rgb(&background).unwrap_or([255.0, 255.0, 255.0]);
        let ratio = colours
            .iter()
            .filter_map(|colour| parse_rgb(colour))
            .map(|colour| contrast_ratio(colour, behind))
            .fold(1.0, f64::max);
        Some(FocusRing {
            element,
            background,
            colours,
            ratio,
        })
    }

    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // chromedriver takes its Chromium with it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

struct FocusRing {
    element: String,
    background: String,
    colours: Vec<String>,
    ratio: f64,
}

fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else {
        format!("\"{text}\"")
    }
}

/// `rgb(r, g, b)` or `rgba(r, g, b, a)` as computed styles give them; transparent is None.
pub fn parse_rgb(css: &str) -> Option<[f64; 3]> {
    let inner = css.split_once('(')?.1.trim_end_matches(')');
    let parts: Vec<f64> = inner
        .split([',', ' ', '/'])
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    if parts.len() < 3 || parts.get(3).is_some_and(|alpha| *alpha == 0.0) {
        return None;
    }
    Some([parts[0], parts[1], parts[2]])
}

/// WCAG 2 relative luminance of an sRGB colour with 0–255 channels.
fn luminance([r, g, b]: [f64; 3]) -> f64 {
    let channel = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

/// WCAG 2 contrast ratio, from 1 (none) to 21 (black on white).
pub fn contrast_ratio(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn contrast_ratios_match_the_wcag_examples() {
    let white = [255.0, 255.0, 255.0];
    assert!((contrast_ratio([0.0, 0.0, 0.0], white) - 21.0).abs() < 0.01);
    // The old amber ring on white: about 1.6:1, too weak.
    let amber = parse_rgb("rgb(255, 191, 71)").unwrap();
    assert!((contrast_ratio(amber, white) - 1.6).abs() < 0.1);
    assert_eq!(parse_rgb("rgba(0, 0, 0, 0)"), None);
}

/// The checks can fail: axe-core reports an image without a text alternative.
#[tokio::test]
async fn axe_core_reports_a_serious_violation() {
    let chrome = Chrome::start(
        "axe_self_check",
        "http://127.0.0.1",
        WIDE,
        Options::default(),
    )
    .await;
    chrome
        .goto("data:text/html,<html lang=en><title>t</title><main><img src=a.png></main></html>")
        .await;
    let violations = chrome.serious_axe_violations("self-check").await;
    assert!(
        violations.iter().any(|v| v["id"] == "image-alt"),
        "{violations:?}"
    );
    chrome.finish().await;
}
