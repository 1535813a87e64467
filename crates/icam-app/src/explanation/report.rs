//! The fields every `report.json` holds besides the method's own: the image, the model, the
//! preprocessing, the class's names and the version.

use serde_json::{Value, json};

use crate::model::{InputImage, LoadedModel};

/// The common fields of an explanation of `class` on `image`.
pub(super) fn common(model: &LoadedModel, image: &InputImage, class: usize) -> Value {
    json!({
        "image": image.name,
        "weights_file": model.weights.display().to_string(),
        "arch": model.net().arch(),
        "normalize": model.normalization.name(),
        "no_resize": model.no_resize,
        "geometry": image.pixels.geometry,
        "class_name": model.class_name(class),
        "wnid": model.wnid(class),
        "icam_version": env!("CARGO_PKG_VERSION"),
    })
}

/// `extra`'s fields into `report` (replacing those of the same name).
pub(super) fn merge(report: &mut Value, extra: Value) {
    if let (Value::Object(r), Value::Object(e)) = (report, extra) {
        for (k, v) in e {
            r.insert(k, v);
        }
    }
}
