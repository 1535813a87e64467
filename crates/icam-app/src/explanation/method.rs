//! Methods by name: the one place where a method's name and the CAM options become the code
//! that runs it.

use crate::error::invalid;
use anyhow::Result;
use icam::cam::passes::check_batch_size;
use icam::{CamSpec, Finer, IcamConfig, Scaling};
use icam_models::Network;
use serde::Serialize;

/// A method, ready to run.
pub enum Method {
    /// Integrative CAM (`icam`): perturbations, layer scores and selection, fusion.
    Icam,
    /// A method of the CAM family ([`icam::methods::NAMES`]), run by [`icam::explain_cam`].
    Cam(CamSpec),
}

/// The options of the CAM family (pytorch-grad-cam's), as plain values: what `--scaling`,
/// `--aug-smooth`, `--eigen-smooth`, `--finer` and `--batch-size` ask for. I-CAM takes none
/// of them; each method takes those that change its map ([`method`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CamOptions {
    /// Post-processing of the maps: A21 (default) or pytorch-grad-cam's.
    pub scaling: Scaling,
    /// Average over flips × input factors (the package's `aug_smooth`).
    pub aug_smooth: bool,
    /// Project the contributions on their first principal component (`eigen_smooth`).
    pub eigen_smooth: bool,
    /// Finer-CAM: explain the class against its closest competitors.
    pub finer: Option<Finer>,
    /// Samples per batch of Score-CAM's and Ablation-CAM's passes; `None`: from the memory.
    /// Not part of an evaluation's identity (it changes the speed, not the maps), so not
    /// serialised.
    #[serde(skip)]
    pub batch_size: Option<usize>,
}

impl Default for CamOptions {
    fn default() -> Self {
        Self {
            scaling: Scaling::Icam,
            aug_smooth: false,
            eigen_smooth: false,
            finer: None,
            batch_size: None,
        }
    }
}

/// One CAM option set: its flag, why it applies where it does, and whether a method
/// (`None`: I-CAM) takes it.
struct CamOption {
    flag: String,
    why: String,
    takes: fn(Option<&icam::methods::Method>) -> bool,
}

fn is_cam(m: Option<&icam::methods::Method>) -> bool {
    m.is_some()
}

/// The library's methods with a property.
fn names_where(p: fn(&icam::methods::Method) -> bool) -> Vec<&'static str> {
    icam::methods::NAMES
        .into_iter()
        .filter(|n| icam::methods::by_name(n, 0.0).is_some_and(|m| p(&m)))
        .collect()
}

impl CamOptions {
    /// The options set away from their defaults.
    fn set(&self) -> Vec<CamOption> {
        let mut v = Vec::new();
        if self.scaling != Scaling::Icam {
            v.push(CamOption {
                flag: format!("--scaling {}", self.scaling.name()),
                why: "it is the post-processing of the CAM methods (I-CAM fuses its layers itself)"
                    .into(),
                takes: is_cam,
            });
        }
        for (on, flag) in [
            (self.aug_smooth, "--aug-smooth"),
            (self.eigen_smooth, "--eigen-smooth"),
        ] {
            if on {
                v.push(CamOption {
                    flag: flag.into(),
                    why: "it is an option of the CAM methods, not of I-CAM".into(),
                    takes: is_cam,
                });
            }
        }
        if self.finer.is_some() {
            v.push(CamOption {
                flag: "--finer".into(),
                why: format!(
                    "it changes the target class's score, for the CAM methods that use one (all but {})",
                    names_where(|m| !m.uses_target()).join(" and ")
                ),
                takes: |m| m.is_some_and(|m| m.uses_target()),
            });
        }
        if self.batch_size.is_some() {
            v.push(CamOption {
                flag: "--batch-size".into(),
                why: format!(
                    "it batches the forward passes of {}",
                    names_where(|m| m.batched()).join(" and ")
                ),
                takes: |m| m.is_some_and(|m| m.batched()),
            });
        }
        v
    }

    /// The option values alone (`--finer-k`, `--finer-alpha`, `--batch-size`).
    fn check_values(&self) -> Result<()> {
        if let Some(f) = &self.finer {
            f.check()?;
        }
        check_batch_size(self.batch_size)?;
        Ok(())
    }

    /// Check the values, and that every option set applies to at least one of `methods`
    /// (for one method: to it), before any work. In a list, a method that does not take an
    /// option runs without it (for those methods it would change nothing: Eigen-CAM and FEM
    /// have no target for `--finer`, the gradient methods no passes to batch).
    pub fn check(&self, methods: &[&str], gradcampp_eps: f64) -> Result<()> {
        self.check_values()?;
        let known: Vec<Option<icam::methods::Method>> = methods
            .iter()
            .map(|m| {
                method(m, gradcampp_eps, &CamOptions::default())?;
                Ok(icam::methods::by_name(m, gradcampp_eps))
            })
            .collect::<Result<_>>()?;
        for o in self.set() {
            if !known.iter().any(|m| (o.takes)(m.as_ref())) {
                return Err(invalid!(
                    "{} does not apply to {}: {}",
                    o.flag,
                    methods.join(", "),
                    o.why
                ));
            }
        }
        Ok(())
    }
}

/// The method called `name` (`icam`, or a method of [`icam::methods`]) with the CAM options
/// it takes (see [`CamOptions::check`]). New methods are dispatched here and nowhere else.
pub fn method(name: &str, gradcampp_eps: f64, cam: &CamOptions) -> Result<Method> {
    if name == "icam" {
        return Ok(Method::Icam);
    }
    match icam::methods::by_name(name, gradcampp_eps) {
        Some(m) => {
            let spec = CamSpec {
                gradcampp_eps,
                scaling: cam.scaling,
                aug_smooth: cam.aug_smooth,
                eigen_smooth: cam.eigen_smooth,
                finer: cam.finer.filter(|_| m.uses_target()),
                batch_size: cam.batch_size.filter(|_| m.batched()),
                ..CamSpec::new(name)
            };
            spec.validate()?;
            Ok(Method::Cam(spec))
        }
        None => Err(invalid!(
            "unknown method `{name}`; known: icam, {}",
            icam::methods::NAMES.join(", ")
        )),
    }
}

/// Every method's name, I-CAM first: what [`method`] dispatches, for front-ends to offer.
pub fn names() -> Vec<&'static str> {
    std::iter::once("icam")
        .chain(icam::methods::NAMES)
        .collect()
}

impl Method {
    pub fn is_icam(&self) -> bool {
        matches!(self, Method::Icam)
    }

    /// The layers explained when none are named: I-CAM's candidates under `config`'s rule,
    /// the last feature layer for the others.
    pub fn default_layers(&self, net: &dyn Network, config: &IcamConfig) -> Vec<String> {
        match self {
            Method::Icam => config.candidate_layers(net),
            Method::Cam(_) => vec![net.baseline_layer()],
        }
    }
}

/// Grad-CAM++'s ε, checked before any work.
pub fn check_gradcampp_eps(eps: f64) -> Result<()> {
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(invalid!(
            "--gradcampp-eps must be finite and >= 0, got {eps}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(name: &str) -> Result<Method> {
        method(name, 0.0, &CamOptions::default())
    }

    #[test]
    fn names_dispatch() {
        assert!(plain("icam").unwrap().is_icam());
        for name in icam::methods::NAMES {
            match method(name, 1e-6, &CamOptions::default()).unwrap() {
                Method::Cam(m) => {
                    assert_eq!(m.method, name);
                    assert_eq!(
                        m,
                        CamSpec {
                            gradcampp_eps: 1e-6,
                            ..CamSpec::new(name)
                        }
                    );
                }
                Method::Icam => panic!("{name} is not I-CAM"),
            }
        }
        let all = names();
        assert_eq!(all[0], "icam");
        for name in &all[1..] {
            assert!(
                method(name, 0.0, &CamOptions::default()).is_ok_and(|m| !m.is_icam()),
                "{name}"
            );
        }
        assert_eq!(
            plain("nope").err().unwrap().to_string(),
            format!(
                "unknown method `nope`; known: icam, {}",
                icam::methods::NAMES.join(", ")
            )
        );
        assert!(check_gradcampp_eps(0.0).is_ok());
        assert_eq!(
            check_gradcampp_eps(-1.0).unwrap_err().to_string(),
            "--gradcampp-eps must be finite and >= 0, got -1"
        );
        assert!(check_gradcampp_eps(f64::NAN).is_err());
    }

    fn all() -> CamOptions {
        CamOptions {
            scaling: Scaling::GradCam,
            aug_smooth: true,
            eigen_smooth: true,
            finer: Some(Finer { k: 2, alpha: 0.5 }),
            batch_size: Some(7),
        }
    }

    #[test]
    fn each_method_gets_the_options_it_takes() {
        let spec = |name: &str| match method(name, 0.0, &all()).unwrap() {
            Method::Cam(s) => s,
            Method::Icam => unreachable!(),
        };
        let s = spec("scorecam");
        assert_eq!(
            (
                s.scaling,
                s.aug_smooth,
                s.eigen_smooth,
                s.finer,
                s.batch_size
            ),
            (
                Scaling::GradCam,
                true,
                true,
                Some(Finer { k: 2, alpha: 0.5 }),
                Some(7)
            )
        );
        let s = spec("gradcam");
        assert_eq!((s.finer.is_some(), s.batch_size), (true, None));
        let s = spec("eigencam");
        assert_eq!((s.finer, s.batch_size, s.eigen_smooth), (None, None, true));
        assert!(method("icam", 0.0, &all()).unwrap().is_icam());
    }

    #[test]
    fn options_must_apply_to_some_method() {
        let msg = |methods: &[&str], o: CamOptions| {
            o.check(methods, 0.0)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let one = |f: fn(&mut CamOptions)| {
            let mut o = CamOptions::default();
            f(&mut o);
            o
        };
        assert_eq!(
            msg(&["icam"], one(|o| o.eigen_smooth = true)),
            "--eigen-smooth does not apply to icam: it is an option of the CAM methods, not of I-CAM"
        );
        assert_eq!(
            msg(&["icam"], one(|o| o.scaling = Scaling::GradCam)),
            "--scaling grad-cam does not apply to icam: it is the post-processing of the CAM methods (I-CAM fuses its layers itself)"
        );
        assert_eq!(
            msg(
                &["eigencam", "fem"],
                one(|o| o.finer = Some(Finer::default()))
            ),
            "--finer does not apply to eigencam, fem: it changes the target class's score, for the CAM methods that use one (all but eigencam and fem)"
        );
        assert_eq!(
            msg(&["gradcam"], one(|o| o.batch_size = Some(4))),
            "--batch-size does not apply to gradcam: it batches the forward passes of scorecam and ablationcam"
        );
        // Values first, whatever the methods.
        assert_eq!(
            msg(&["icam"], one(|o| o.batch_size = Some(0))),
            "--batch-size must be at least 1"
        );
        assert_eq!(
            msg(
                &["gradcam"],
                one(|o| o.finer = Some(Finer { k: 0, alpha: 1.0 }))
            ),
            "--finer-k must be at least 1"
        );
        assert_eq!(
            msg(
                &["gradcam"],
                one(|o| o.finer = Some(Finer {
                    k: 3,
                    alpha: f64::NAN
                }))
            ),
            "--finer-alpha must be finite, got NaN"
        );
        // In a list, one taker is enough; the defaults apply to anything.
        assert_eq!(msg(&["icam", "scorecam", "eigencam"], all()), "");
        assert_eq!(msg(&["icam"], CamOptions::default()), "");
        assert!(msg(&["icam", "nope"], CamOptions::default()).starts_with("unknown method"));
    }
}
