//! Pascal VOC XML annotations (also ImageNet's validation boxes, whose XML names the image
//! without extension).

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::{GtBox, IMAGE_EXT, Sample};

/// One VOC XML file: the image it names (in `images`), the first object's name, every box.
pub fn read_voc(xml: &Path, images: &Path) -> Result<Sample> {
    let text =
        std::fs::read_to_string(xml).with_context(|| format!("reading {}", xml.display()))?;
    let doc = roxmltree::Document::parse(&text)
        .with_context(|| format!("{} is not valid XML", xml.display()))?;
    let root = doc.root_element();
    let child_text = |n: roxmltree::Node, tag: &str| {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let stem = xml
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let filename = child_text(root, "filename").unwrap_or(stem.clone());
    let mut path = images.join(&filename);
    if !path.is_file() {
        // ImageNet's XML names the file without extension.
        path = IMAGE_EXT
            .iter()
            .map(|e| images.join(format!("{filename}.{e}")))
            .chain(IMAGE_EXT.iter().map(|e| images.join(format!("{stem}.{e}"))))
            .find(|p| p.is_file())
            .with_context(|| {
                format!(
                    "{}: image `{filename}` not found in {}",
                    xml.display(),
                    images.display()
                )
            })?;
    }
    let mut label = None;
    let mut boxes = Vec::new();
    for obj in root.children().filter(|c| c.has_tag_name("object")) {
        if label.is_none() {
            label = child_text(obj, "name");
        }
        let Some(bb) = obj.children().find(|c| c.has_tag_name("bndbox")) else {
            continue;
        };
        let num = |t: &str| -> Result<f64> {
            child_text(bb, t)
                .with_context(|| format!("{}: box without <{t}>", xml.display()))?
                .parse::<f64>()
                .with_context(|| format!("{}: <{t}> is not a number", xml.display()))
        };
        let (x0, y0, x1, y1) = (
            num("xmin")? - 1.0,
            num("ymin")? - 1.0,
            num("xmax")?,
            num("ymax")?,
        );
        if !(x1 > x0 && y1 > y0) {
            bail!("{}: empty box ({x0}, {y0}, {x1}, {y1})", xml.display());
        }
        boxes.push(GtBox { x0, y0, x1, y1 });
    }
    Ok(Sample { path, label, boxes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn objects_boxes_and_imagenet_names() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("n01_1.JPEG"), b"").unwrap();
        // ImageNet style: the file named without extension; the first object gives the label;
        // an object without a box adds none; corners become continuous coordinates.
        let xml = write(
            d.path(),
            "n01_1.xml",
            "<annotation><filename>n01_1</filename>\
             <object><name>n02504458</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>\
             <object><name>other</name></object>\
             <object><name>n02504458</name><bndbox><xmin> 5 </xmin><ymin>5</ymin><xmax>6.5</xmax><ymax>7</ymax></bndbox></object>\
             </annotation>",
        );
        let s = read_voc(&xml, d.path()).unwrap();
        assert_eq!(s.path, d.path().join("n01_1.JPEG"));
        assert_eq!(s.label.as_deref(), Some("n02504458"));
        assert_eq!(
            s.boxes,
            vec![
                GtBox {
                    x0: 0.0,
                    y0: 1.0,
                    x1: 10.0,
                    y1: 20.0
                },
                GtBox {
                    x0: 4.0,
                    y0: 4.0,
                    x1: 6.5,
                    y1: 7.0
                }
            ]
        );
    }

    #[test]
    fn bad_annotations_are_errors() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.png"), b"").unwrap();
        let err = |text: &str| {
            let xml = write(d.path(), "a.xml", text);
            format!("{:#}", read_voc(&xml, d.path()).unwrap_err())
        };
        let x = d.path().join("a.xml");
        let x = x.display();
        let obj = |bb: &str| {
            format!(
                "<annotation><filename>a.png</filename><object><name>c</name><bndbox>{bb}</bndbox></object></annotation>"
            )
        };
        assert_eq!(
            err(&obj("<xmin>1</xmin><ymin>1</ymin><xmax>9</xmax>")),
            format!("{x}: box without <ymax>")
        );
        assert_eq!(
            err(&obj(
                "<xmin>1</xmin><ymin>1</ymin><xmax>nine</xmax><ymax>9</ymax>"
            )),
            format!("{x}: <xmax> is not a number: invalid float literal")
        );
        assert_eq!(
            err(&obj(
                "<xmin>5</xmin><ymin>1</ymin><xmax>4</xmax><ymax>9</ymax>"
            )),
            format!("{x}: empty box (4, 0, 4, 9)")
        );
        assert!(err("<annotation>").starts_with(&format!("{x} is not valid XML: ")));
        // Neither the named file nor one named as the XML file (here `lost.*`) exists.
        let lost = write(
            d.path(),
            "lost.xml",
            "<annotation><filename>gone.jpg</filename></annotation>",
        );
        assert_eq!(
            read_voc(&lost, d.path()).unwrap_err().to_string(),
            format!(
                "{}: image `gone.jpg` not found in {}",
                lost.display(),
                d.path().display()
            )
        );
    }
}
