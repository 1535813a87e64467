#!/usr/bin/env python3
"""Assemble the development set of docs/faithfulness.md as one `icam eval` CSV (35 images).

  python3 tools/dev_set.py --shared ../shared --out /tmp/icam-dev
  icam eval /tmp/icam-dev/dev.csv --out eval-dev ...

The folder gets symbolic links to `voc-elephants/` (10 photos, 11 boxes, label "elephant"),
`dev-voc/` (24 composites, labelled by WordNet id) and the quokka of examples/images (its
box from imgaug's annotation JSON; no label, as "quokka" is no ImageNet class), and `dev.csv`
(`path,class,xmin,ymin,xmax,ymax`, one row per box, paths relative to the CSV). Image names,
and so `icam eval`'s per-image seeds, do not depend on where the folder is. Standard library only.
"""
import argparse
import json
import os
import xml.etree.ElementTree as ET


def voc_rows(root, sub):
    ann = os.path.join(root, "Annotations")
    rows = []
    for f in sorted(os.listdir(ann)):
        if not f.endswith(".xml"):
            continue
        x = ET.parse(os.path.join(ann, f)).getroot()
        img = f"{sub}/JPEGImages/{x.findtext('filename')}"
        for o in x.iter("object"):
            b = o.find("bndbox")
            box = [b.findtext(k).strip() for k in ("xmin", "ymin", "xmax", "ymax")]
            rows.append([img, o.findtext("name").strip()] + box)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default="../shared")
    p.add_argument("--examples", default=os.path.join(os.path.dirname(__file__), "..", "examples", "images"))
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(os.path.join(a.out, "quokka"), exist_ok=True)
    links = {
        "voc-elephants": os.path.join(a.shared, "data", "voc-elephants"),
        "dev-voc": os.path.join(a.shared, "data", "dev-voc"),
        "quokka/imgaug_quokka.jpg": os.path.join(a.examples, "imgaug_quokka.jpg"),
    }
    for name, target in links.items():
        dst = os.path.join(a.out, name)
        if os.path.lexists(dst):
            os.remove(dst)
        os.symlink(os.path.abspath(target), dst)
    rows = voc_rows(links["voc-elephants"], "voc-elephants")
    with open(os.path.join(a.examples, "imgaug_quokka_annotations.json")) as f:
        for b in json.load(f)["bounding_boxes"]:
            rows.append(["quokka/imgaug_quokka.jpg", ""] +
                        [str(int(b[k])) for k in ("x1", "y1", "x2", "y2")])
    rows += voc_rows(links["dev-voc"], "dev-voc")
    with open(os.path.join(a.out, "dev.csv"), "w") as f:
        f.write("path,class,xmin,ymin,xmax,ymax\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    print(f"{len({r[0] for r in rows})} images, {len(rows)} boxes -> {os.path.join(a.out, 'dev.csv')}")


if __name__ == "__main__":
    main()
