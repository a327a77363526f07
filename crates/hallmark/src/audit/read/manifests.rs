//! Deployments: compose files' service images, and the images of Kubernetes objects (any
//! other YAML with an `apiVersion` and a `kind`).

use super::{Source, place};
use crate::audit::Kind;
use crate::audit::images;
use crate::audit::model::{ImageUse, Model};
use crate::audit::yaml::Node;

pub(super) fn compose(_: &Source<'_>, doc: &Node, m: &mut Model) {
    images_of(doc, Kind::Compose, m);
}

pub(super) fn kubernetes(_: &Source<'_>, doc: &Node, m: &mut Model) {
    if doc.get("apiVersion").is_some() {
        images_of(doc, Kind::Kubernetes, m);
    }
}

fn images_of(doc: &Node, kind: Kind, m: &mut Model) {
    for (node, what) in images::image_nodes(doc, kind) {
        if let Some(text) = node.str() {
            m.images.push(ImageUse {
                text: text.to_string(),
                at: place(node),
                what,
            });
        }
    }
}
