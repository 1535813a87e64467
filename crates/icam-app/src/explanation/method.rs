//! Methods by name: the one place where a method's name becomes the code that runs it.

use crate::error::invalid;
use anyhow::Result;
use icam::CamSpec;
use icam_models::Network;

/// A method, ready to run.
pub enum Method {
    /// Integrative CAM (`icam`): perturbations, layer scores and selection, fusion.
    Icam,
    /// A method of the CAM family ([`icam::methods::NAMES`]), run by [`icam::explain_cam`].
    Cam(CamSpec),
}

/// The method called `name` (`icam`, or a method of [`icam::methods`]). New methods are
/// dispatched here and nowhere else.
pub fn method(name: &str, gradcampp_eps: f64) -> Result<Method> {
    if name == "icam" {
        return Ok(Method::Icam);
    }
    match icam::methods::by_name(name, gradcampp_eps) {
        Some(_) => Ok(Method::Cam(CamSpec {
            gradcampp_eps,
            ..CamSpec::new(name)
        })),
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

    /// The layers explained when none are named: every candidate block for I-CAM, the last
    /// feature layer for the others.
    pub fn default_layers(&self, net: &dyn Network) -> Vec<String> {
        match self {
            Method::Icam => net.candidate_layers(),
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

    #[test]
    fn names_dispatch() {
        assert!(method("icam", 0.0).unwrap().is_icam());
        for name in icam::methods::NAMES {
            match method(name, 1e-6).unwrap() {
                Method::Cam(m) => assert_eq!(m.method, name),
                Method::Icam => panic!("{name} is not I-CAM"),
            }
        }
        let all = names();
        assert_eq!(all[0], "icam");
        for name in &all[1..] {
            assert!(method(name, 0.0).is_ok_and(|m| !m.is_icam()), "{name}");
        }
        assert_eq!(
            method("nope", 0.0).err().unwrap().to_string(),
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
}
