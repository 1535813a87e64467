//! `icam serve` over HTTP and in a real browser.
//!
//! Each test starts the binary as a child process on a free port (`--port 0`; the URL is the
//! first line it prints) with the default model, EfficientNet-Lite0, from the model cache; when
//! that is absent the tests print `SKIPPED: …` and pass. The API tests check that an answer
//! holds what `icam explain` writes for the same options (the same overlay, heatmap and
//! report), that bad requests get one line and the right status, and that a burst of requests
//! is answered or refused cleanly. The browser test drives the page in headless Chromium
//! through chromedriver (Debian packages `chromium` and `chromium-driver`; SKIPPED when they
//! are absent) and saves a screenshot to `target/icam-serve.png`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

mod common;
use common::{ICAM_BIN, example_image, lite0_cached, tmpdir};

// ---------------------------------------------------------------------------------------------
// The server and the fixtures

fn example(name: &str) -> PathBuf {
    example_image(name).canonicalize().unwrap()
}

/// `icam serve --port 0 ARGS`, stopped (SIGKILL) when dropped unless [`Server::stop`] was
/// called.
struct Server {
    child: Child,
    stderr: Option<ChildStderr>,
    url: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(ICAM_BIN)
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run icam");
        let mut stderr = child.stderr.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(url) = line.trim().strip_prefix("icam serve: ") else {
            let mut err = String::new();
            stderr.as_mut().unwrap().read_to_string(&mut err).unwrap();
            panic!("icam serve did not start: {line:?}\n{err}");
        };
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Server {
            url: url.to_string(),
            child,
            stderr,
        }
    }

    /// SIGTERM; the exit status and what it printed on stderr.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The one-line error of a refusal with `status`.
    fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let e = self.json()["error"].as_str().unwrap().to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    Answer {
        status: r.status().as_u16(),
        retry_after,
        body: r
            .body_mut()
            .with_config()
            .limit(200 << 20)
            .read_to_string()
            .unwrap(),
    }
}

fn get(url: &str) -> Answer {
    answer(agent().get(url).call())
}

/// A part of a multipart form: name, file name, bytes.
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

const BOUNDARY: &str = "icam-test-boundary-7d1b";

fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, file, bytes) in parts {
        write!(
            b,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\""
        )
        .unwrap();
        if let Some(f) = file {
            write!(
                b,
                "; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            )
            .unwrap();
        }
        b.extend_from_slice(b"\r\n\r\n");
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    write!(b, "--{BOUNDARY}--\r\n").unwrap();
    b
}

fn post_raw(url: &str, content_type: &str, body: &[u8]) -> Answer {
    answer(
        agent()
            .post(format!("{url}api/explain"))
            .header("Content-Type", content_type)
            .send(body),
    )
}

fn post(url: &str, parts: &[Part]) -> Answer {
    post_raw(
        url,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        &multipart(parts),
    )
}

/// The image and option fields `(name, value)`.
fn explain(url: &str, image: &Path, fields: &[(&str, &str)]) -> Answer {
    let bytes = std::fs::read(image).unwrap();
    let name = image.file_name().unwrap().to_str().unwrap();
    let mut parts: Vec<Part> = vec![("image", Some(name), &bytes)];
    parts.extend(fields.iter().map(|(k, v)| (*k, None, v.as_bytes())));
    post(url, &parts)
}

fn decode_png(v: &Value) -> image::DynamicImage {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .unwrap();
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap()
}

/// `icam explain IMAGE --out DIR ARGS`.
fn cli_explain(image: &Path, out: &Path, args: &[&str]) {
    let o = Command::new(ICAM_BIN)
        .arg("explain")
        .arg(image)
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn read_npy_f32(p: &Path) -> Vec<f32> {
    let bytes = std::fs::read(p).unwrap();
    npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The API

#[test]
fn model_lists_classes_layers_methods_and_options() {
    if !lite0_cached() {
        return;
    }
    let s = Server::start(&["--workers", "1"]);
    let a = get(&format!("{}api/model", s.url));
    assert_eq!(a.status, 200, "{}", a.body);
    let m = a.json();
    assert_eq!(m["model"], "efficientnet-lite0");
    assert_eq!(m["arch"], "efficientnet_lite0");
    assert_eq!(m["num_classes"], 1000);
    assert_eq!(m["classes"][282], "tiger cat");
    assert_eq!(m["classes"].as_array().unwrap().len(), 1000);
    // The default (recommended) preset's candidates: 16 depthwise activations and the head.
    assert_eq!(m["candidate_layers"][0], "_blocks.0._depthwise_act");
    assert_eq!(m["candidate_layers"].as_array().unwrap().len(), 17);
    assert_eq!(m["baseline_layer"], "_head_act");
    // The methods are the library's.
    let methods: Vec<&str> = m["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(methods, icam_app::explanation::method_names());
    let options: Vec<&str> = m["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(options.contains(&"alpha") && options.contains(&"class"));
    assert!(!options.contains(&"noise") && !options.contains(&"weights"));
    assert_eq!(m["defaults"]["method"], "icam");
    assert_eq!(m["limits"]["max_upload_bytes"], 20_000_000);
    assert_eq!(m["limits"]["workers"], 1);
    assert_eq!(m["limits"]["queue"], 2);

    // The page and its files, with their types.
    let page = agent().get(&s.url).call().unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    for (path, needle) in [
        ("", "<script src=\"/app.js\""),
        ("app.js", "/api/explain"),
        ("style.css", ".grid"),
    ] {
        let a = get(&format!("{}{path}", s.url));
        assert_eq!(a.status, 200);
        assert!(a.body.contains(needle), "{path}");
    }
    let a = get(&format!("{}nothing-here", s.url));
    assert_eq!(a.error(404), "not found: /nothing-here");
    // Requests to another host name (DNS rebinding) are refused.
    let a = answer(
        agent()
            .get(format!("{}api/model", s.url))
            .header("Host", "attacker.example")
            .call(),
    );
    assert!(
        a.error(403)
            .starts_with("this server answers requests to localhost only")
    );

    // Ctrl-C/SIGTERM stops it cleanly.
    let (status, err) = s.stop();
    assert!(status.success(), "{status:?}\n{err}");
    assert!(err.contains("stopped"), "{err}");
}

/// An answer holds what `icam explain` writes for the same options: the same overlay, the
/// heatmap (as 8-bit grey levels), the same report; the layers with I-CAM's facts.
#[test]
fn explanations_equal_the_cli_outputs() {
    if !lite0_cached() {
        return;
    }
    let s = Server::start(&["--workers", "2"]);
    let img = example("skimage_chelsea.png");
    let tmp = tmpdir();

    // Grad-CAM of the second class.
    let a = explain(&s.url, &img, &[("method", "gradcam"), ("class", "285")]);
    assert_eq!(a.status, 200, "{}", a.body);
    let j = a.json();
    assert_eq!(j["image"]["name"], "skimage_chelsea.png");
    assert_eq!(j["image"]["size"], serde_json::json!([451, 300]));
    let top = j["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    assert_eq!(top[0]["class"], 282);
    assert_eq!(top[0]["label"], "tiger cat");
    assert!(
        top.windows(2)
            .all(|w| w[0]["prob"].as_f64() >= w[1]["prob"].as_f64())
    );
    let e = &j["explanations"][0];
    assert_eq!(j["explanations"].as_array().unwrap().len(), 1);
    assert_eq!(e["method"], "gradcam");
    assert_eq!(e["class"], 285);
    assert_eq!(e["class_label"], "Egyptian cat (285)");
    let out = tmp.path().join("gradcam");
    cli_explain(&img, &out, &["--method", "gradcam", "--class", "285"]);
    let overlay = image::open(out.join("overlay.png")).unwrap().to_rgb8();
    assert_eq!(decode_png(&e["overlay_png"]).to_rgb8(), overlay);
    let mut report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["image"], img.display().to_string());
    report["image"] = "skimage_chelsea.png".into();
    assert_eq!(e["report"], report);
    assert_eq!(e["layers"].as_array().unwrap().len(), 1);
    assert_eq!(e["layers"][0]["name"], "_head_act");
    assert!(e["layers"][0].get("weight").is_none());

    // I-CAM with options by their long names.
    let fields = [
        ("n", "4"),
        ("alpha", "0.2"),
        ("seed", "3"),
        ("threshold", "0.9"),
    ];
    let a = explain(&s.url, &img, &fields);
    assert_eq!(a.status, 200, "{}", a.body);
    let e = &a.json()["explanations"][0];
    assert_eq!(e["method"], "icam");
    assert_eq!(e["class"], 282);
    let out = tmp.path().join("icam");
    cli_explain(
        &img,
        &out,
        &[
            "--n",
            "4",
            "--alpha",
            "0.2",
            "--seed",
            "3",
            "--threshold",
            "0.9",
        ],
    );
    let mut report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    report["image"] = "skimage_chelsea.png".into();
    assert_eq!(e["report"], report);
    assert_eq!(e["report"]["config"]["n"], 4);
    assert_eq!(e["report"]["config"]["alpha"], 0.2);
    let overlay = image::open(out.join("overlay.png")).unwrap().to_rgb8();
    assert_eq!(decode_png(&e["overlay_png"]).to_rgb8(), overlay);
    let heat = read_npy_f32(&out.join("heatmap.npy"));
    let gray = decode_png(&e["heatmap_png"]).to_luma8();
    assert_eq!(gray.dimensions(), (224, 224));
    for (g, h) in gray.pixels().zip(&heat) {
        assert!((g[0] as f32 / 255.0 - h).abs() <= 0.5 / 255.0 + 1e-6);
    }
    // One entry per candidate layer, with the report's scores, weights and selection.
    // (the recommended preset's 17 on Lite0: 16 depthwise activations and `_head_act`)
    let layers = e["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 17);
    let selected: Vec<&Value> = layers
        .iter()
        .filter(|l| l["selected"] == true)
        .map(|l| &l["name"])
        .collect();
    let mut want: Vec<&Value> = report["selected_layers"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let mut got = selected.clone();
    want.sort_by_key(|v| v.to_string());
    got.sort_by_key(|v| v.to_string());
    assert_eq!(got, want);
    for (l, w) in layers
        .iter()
        .zip(report["layer_weights"].as_array().unwrap())
    {
        assert_eq!(&l["weight"], w);
        assert_eq!(decode_png(&l["png"]).to_rgb8().dimensions(), (224, 224));
    }
    assert_eq!(
        decode_png(&e["heat_png"]).to_rgb8().dimensions(),
        (451, 300)
    );
}

#[test]
fn bad_requests_get_one_line_and_their_status() {
    if !lite0_cached() {
        return;
    }
    let s = Server::start(&["--workers", "1", "--max-megapixels", "0.1"]);
    let url = &s.url;
    let readme = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");

    // Not an image: the CLI's message, with the upload's name.
    let a = explain(url, &readme, &[]);
    let cli = Command::new(ICAM_BIN)
        .arg("explain")
        .arg(&readme)
        .output()
        .unwrap();
    let cli = String::from_utf8_lossy(&cli.stderr).trim().to_string();
    let cli = cli.strip_prefix("error: ").unwrap();
    assert_eq!(
        a.error(400),
        cli.replace(&readme.display().to_string(), "README.md")
    );
    assert!(a.error(400).starts_with("cannot decode image README.md: "));
    // A truncated PNG.
    let png = std::fs::read(example("skimage_chelsea.png")).unwrap();
    let a = post(url, &[("image", Some("cut.png"), &png[..png.len() / 3])]);
    assert!(a.error(400).starts_with("cannot decode image cut.png: "));
    // Too many pixels (this server takes 0.1 megapixels; the photo has 0.135).
    let a = post(url, &[("image", Some("cat.png"), &png)]);
    assert_eq!(
        a.error(400),
        "cannot decode image cat.png: the image is 451×300 (0.135 megapixels); at most 0.1 megapixels are accepted"
    );
    // Empty file, no image, two images.
    let a = post(url, &[("image", Some("e.png"), b"")]);
    assert_eq!(a.error(400), "e.png: the uploaded file is empty");
    let a = post(url, &[("alpha", None, b"0.3")]);
    assert_eq!(
        a.error(400),
        "no image: send the image file in the multipart field `image`"
    );
    let a = post(
        url,
        &[
            ("image", Some("a.png"), &png),
            ("image", Some("b.png"), &png),
        ],
    );
    assert_eq!(a.error(400), "one image per request");
    // Malformed multipart: truncated; no boundary; not multipart at all.
    let mut body = multipart(&[("image", Some("a.png"), &png)]);
    body.truncate(body.len() / 2);
    let a = post_raw(
        url,
        &format!("multipart/form-data; boundary={BOUNDARY}"),
        &body,
    );
    assert!(
        a.error(400).starts_with("malformed multipart request: "),
        "{}",
        a.body
    );
    let a = post_raw(url, "multipart/form-data", &body);
    assert!(
        a.error(400)
            .starts_with("send a multipart/form-data request")
    );
    let a = post_raw(url, "application/json", b"{}");
    assert_eq!(
        a.error(400),
        "send a multipart/form-data request (the image in the field `image`), not Content-Type application/json"
    );
    // Another method than POST.
    let a = get(&format!("{url}api/explain"));
    assert_eq!(a.error(405), "GET /api/explain is not served: use POST");
    // Options: unknown, bad values, out of range, files, the model; classes and layers.
    let chelsea = example("skimage_chelsea.png");
    let e = |fields: &[(&str, &str)]| explain(url, &chelsea, fields);
    assert!(
        e(&[("frobnicate", "1")])
            .error(400)
            .starts_with("unexpected argument '--frobnicate' found")
    );
    assert!(
        e(&[("method", "nope")])
            .error(400)
            .starts_with("invalid value 'nope' for '--method <METHOD>'")
    );
    assert_eq!(
        e(&[("alpha", "2")]).error(400),
        "--alpha must lie in (0, 1), got 2"
    );
    assert_eq!(
        e(&[("noise", "/etc/passwd")]).error(400),
        "--noise names a file; the server reads and writes no files"
    );
    assert!(
        e(&[("weights", "/tmp/w.pth")])
            .error(400)
            .starts_with("--weights chooses the model")
    );
    // (The pixel limit of this server refuses the photo before the class is looked at; a
    // small image reaches the class and layer checks.)
    let small = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 90]));
    let mut small_png = std::io::Cursor::new(Vec::new());
    small
        .write_to(&mut small_png, image::ImageFormat::Png)
        .unwrap();
    let small_png = small_png.into_inner();
    let a = post(
        url,
        &[
            ("image", Some("s.png"), &small_png),
            ("class", None, b"1000"),
        ],
    );
    assert_eq!(
        a.error(400),
        "class 1000 is out of range: the model has 1000 classes (0..999)"
    );
    let a = post(
        url,
        &[
            ("image", Some("s.png"), &small_png),
            ("layers", None, b"nope"),
            ("method", None, b"gradcam"),
        ],
    );
    assert!(
        a.error(400)
            .starts_with("unknown layer `nope` for efficientnet_lite0")
    );
    let a = post(
        url,
        &[
            ("image", Some("s.png"), &small_png),
            ("method", None, b"gradcam"),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["image"]["size"], serde_json::json!([64, 48]));

    // Too large: 413, whether announced or found while reading.
    let big = vec![0u8; 20_100_000];
    let a = post(url, &[("image", Some("big.png"), &big)]);
    assert_eq!(a.error(413), "the upload is larger than 20 MB");
    let a = answer(
        agent()
            .post(format!("{url}api/explain"))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .send(ureq::SendBody::from_reader(
                &mut &multipart(&[("image", Some("big.png"), &big)])[..],
            )),
    );
    assert_eq!(a.error(413), "the upload is larger than 20 MB");
    // The server still answers.
    let a = get(&format!("{url}api/model"));
    assert_eq!(a.status, 200);
}

/// 20 requests at once on 1 worker with a queue of 1: each is answered (200) or refused with
/// 503, Retry-After and one line; none fails otherwise, and the server answers afterwards.
#[test]
fn a_burst_is_answered_or_refused_cleanly() {
    if !lite0_cached() {
        return;
    }
    let s = Server::start(&["--workers", "1", "--queue", "1"]);
    let img = example("skimage_chelsea.png");
    let barrier = std::sync::Barrier::new(20);
    let answers: Vec<Answer> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                sc.spawn(|| {
                    barrier.wait();
                    explain(&s.url, &img, &[("method", "gradcam")])
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ok = 0;
    for a in &answers {
        match a.status {
            200 => {
                ok += 1;
                assert_eq!(a.json()["explanations"][0]["class"], 282);
            }
            503 => {
                let secs: u64 = a.retry_after.as_deref().unwrap().parse().unwrap();
                assert!(secs >= 1);
                assert!(
                    a.error(503)
                        .starts_with("busy: 1 network passes are running and 1 waiting")
                );
            }
            other => panic!("status {other}: {}", a.body),
        }
    }
    assert!(ok >= 1, "at least the first request is served");
    eprintln!("{ok} of 20 served, {} refused with 503", 20 - ok);
    let a = explain(&s.url, &img, &[("method", "gradcam")]);
    assert_eq!(a.status, 200, "{}", a.body);
}

// ---------------------------------------------------------------------------------------------
// The page, in a browser

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(path: &Path) -> Driver {
        let mut child = Command::new(path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let port = loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "chromedriver did not start"
            );
            if let Some(p) = line
                .trim()
                .strip_prefix("ChromeDriver was started successfully on port ")
            {
                break p.trim_end_matches('.').to_string();
            }
        };
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open the page, upload the example photo, wait for the overlay; click the second class and
/// check that the map changes; compare I-CAM with Grad-CAM; save screenshots to `target/`.
#[test]
fn the_page_explains_the_example_photo_in_chromium() {
    if !lite0_cached() {
        return;
    }
    let (Some(chromium), Some(chromedriver)) = (which("chromium"), which("chromedriver")) else {
        eprintln!(
            "SKIPPED: chromium and chromedriver not found (apt-get install chromium chromium-driver)"
        );
        return;
    };
    let server = Server::start(&["--workers", "2"]);
    let driver = Driver::start(&chromedriver);
    let profile = tmpdir();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use fantoccini::{ClientBuilder, Locator};
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1400,1100",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("chromedriver session");
        let js = |script: &'static str| {
            let c = c.clone();
            async move { c.execute(script, vec![]).await.unwrap() }
        };
        // Poll the page until `script` returns true (a generous bound so that a broken page
        // fails instead of hanging; nothing is timed).
        let wait = |script: &'static str, what: &'static str| {
            let c = c.clone();
            async move {
                let start = Instant::now();
                loop {
                    if c.execute(script, vec![]).await.unwrap() == Value::Bool(true) {
                        return;
                    }
                    let err = c
                        .execute("return document.getElementById('error').textContent", vec![])
                        .await
                        .unwrap();
                    assert!(err.as_str().unwrap_or("").is_empty(), "{what}: the page shows {err}");
                    assert!(start.elapsed() < Duration::from_secs(300), "waiting for {what}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        c.goto(&server.url).await.unwrap();
        wait("return document.body.dataset.state === 'idle'", "the model").await;
        assert_eq!(
            js("return document.querySelectorAll('#method option').length").await,
            serde_json::json!(icam_app::explanation::method_names().len())
        );

        // Upload the photo: I-CAM of the predicted class.
        let input = c.find(Locator::Id("file")).await.unwrap();
        input
            .send_keys(&example("skimage_chelsea.png").display().to_string())
            .await
            .unwrap();
        wait(
            "return document.body.dataset.state === 'done' && document.getElementById('heat').src.startsWith('data:image/png')",
            "the first overlay",
        )
        .await;
        let first = js("return document.getElementById('heat').src").await;
        assert_eq!(js("return document.getElementById('summary').dataset.class").await, "282");
        assert_eq!(js("return document.querySelectorAll('#top5 button').length").await, 5);
        // The layer grid: every candidate layer (17 under the recommended preset) and the fused
        // map; the selection highlighted.
        assert_eq!(js("return document.querySelectorAll('#grid .tile').length").await, 18);
        let selected = js("return document.querySelectorAll('#grid .tile.selected').length").await;
        assert!(selected.as_u64().unwrap() >= 1, "{selected}");
        c.screenshot()
            .await
            .map(|png| std::fs::write(target.join("icam-serve.png"), png).unwrap())
            .unwrap();

        // Click the second class: its map replaces the first.
        let second = c
            .find(Locator::Css("#top5 li:nth-child(2) button"))
            .await
            .unwrap();
        let class = second.attr("data-class").await.unwrap().unwrap();
        assert_eq!(class, "285");
        second.click().await.unwrap();
        wait(
            "return document.body.dataset.state === 'done' && document.getElementById('summary').dataset.class === '285'",
            "the second class",
        )
        .await;
        let second_src = js("return document.getElementById('heat').src").await;
        assert_ne!(first, second_src, "the map changed");
        assert_eq!(
            js("return document.querySelector('#top5 button.active').dataset.class").await,
            "285"
        );

        // Compare I-CAM and Grad-CAM (ticked by default) side by side.
        c.find(Locator::Css("button[data-tab=compare]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        c.find(Locator::Id("compare-run"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait(
            "return document.body.dataset.state === 'done' && document.querySelectorAll('#compare figure img').length === 2",
            "the comparison",
        )
        .await;
        let captions = js("return [...document.querySelectorAll('#compare figcaption b')].map(b => b.textContent)").await;
        assert_eq!(captions, serde_json::json!(["I-CAM", "Grad-CAM"]));
        c.screenshot()
            .await
            .map(|png| std::fs::write(target.join("icam-serve-compare.png"), png).unwrap())
            .unwrap();

        // Errors show as one line in the page: an unknown layer, a file that is not an image,
        // a file beyond the upload limit (refused before it is sent).
        c.find(Locator::Css("button[data-tab=explain]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        js("const m = document.getElementById('method'); m.value = 'gradcam'; m.dispatchEvent(new Event('change'))").await;
        wait(
            "return document.body.dataset.state === 'done' && document.getElementById('summary').dataset.method === 'gradcam'",
            "Grad-CAM",
        )
        .await;
        let error = |script: &'static str| {
            let c = c.clone();
            async move {
                c.execute(script, vec![]).await.unwrap();
                let start = Instant::now();
                loop {
                    let shown = c
                        .execute(
                            "const e = document.getElementById('error'); return document.body.dataset.state !== 'busy' && !e.hidden ? e.textContent : null",
                            vec![],
                        )
                        .await
                        .unwrap();
                    if let Value::String(text) = shown {
                        assert!(!text.contains('\n'), "{text}");
                        return text;
                    }
                    assert!(start.elapsed() < Duration::from_secs(300), "waiting for {script}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let e = error("const l = document.querySelector('[data-option=layers]'); l.value = 'nope'; l.dispatchEvent(new Event('change'))").await;
        assert!(
            e.starts_with("Error: unknown layer `nope` for efficientnet_lite0; valid layers: _blocks.0._depthwise_act, _blocks.0,"),
            "{e}"
        );
        js("document.querySelector('[data-option=layers]').value = ''").await;
        let files = tmpdir();
        let not_image = files.path().join("notes.png");
        std::fs::write(&not_image, b"these are notes, not a picture").unwrap();
        js("document.getElementById('error').hidden = true").await;
        input.send_keys(&not_image.display().to_string()).await.unwrap();
        let e = error("return null").await;
        assert!(e.starts_with("Error: cannot decode image notes.png: "), "{e}");
        let big = files.path().join("big.png");
        std::fs::File::create(&big).unwrap().set_len(20_000_001).unwrap();
        js("document.getElementById('error').hidden = true").await;
        input.send_keys(&big.display().to_string()).await.unwrap();
        let e = error("return null").await;
        assert_eq!(e, "Error: big.png: the upload is larger than 20 MB");

        // A link opens the example photo with a method and α.
        c.goto(&format!("{}?again#example&method=gradcam&alpha=0.1", server.url))
            .await
            .unwrap();
        wait(
            "return document.body.dataset.state === 'done' && document.getElementById('summary').dataset.method === 'gradcam'",
            "the linked example",
        )
        .await;
        assert_eq!(js("return document.getElementById('summary').dataset.class").await, "282");
        assert_eq!(js("return document.getElementById('alpha').value").await, "0.1");
        c.close().await.unwrap();
    });
    eprintln!("screenshots: {}", target.join("icam-serve*.png").display());
}
