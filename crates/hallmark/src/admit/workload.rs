//! Where a workload keeps its images: the pod spec of a Pod, or the pod template of a
//! controller, and in it containers, init containers, ephemeral containers (Pods only)
//! and image volumes. Each image is a [`Site`]: a JSON Pointer to patch and a path a
//! person can read.

use serde_json::Value;

use super::Site;
use super::review::Request;

/// The images of one object, or why they cannot be found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Every image, in the object's order.
    pub sites: Vec<Site>,
    /// True for a Pod: the object that runs, the one pinned even with `pods_only`.
    pub pod: bool,
    /// Parts of the object that are not what their kind says (each a denial).
    pub problems: Vec<String>,
}

/// Which lists of a pod spec hold images.
#[derive(Clone, Copy)]
enum Lists {
    /// containers, initContainers, ephemeralContainers, volumes.
    Pod,
    /// `kubectl debug`: only the ephemeral containers are being added.
    Ephemeral,
    /// A pod template: ephemeral containers are refused there by Kubernetes itself.
    Template,
}

/// Where the pod spec of `request`'s kind is, and which lists in it to read; `None` for a
/// kind that carries no pod spec hallmark knows.
fn spec_of(request: &Request) -> Option<(&'static str, Lists)> {
    let ephemeral = request.resource.resource == "pods"
        && request.sub_resource.as_deref() == Some("ephemeralcontainers");
    Some(
        match (request.kind.group.as_str(), request.kind.kind.as_str()) {
            ("", "Pod") if ephemeral => ("/spec", Lists::Ephemeral),
            ("", "Pod") => ("/spec", Lists::Pod),
            ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
            | ("batch", "Job")
            | ("", "ReplicationController") => ("/spec/template/spec", Lists::Template),
            ("batch", "CronJob") => ("/spec/jobTemplate/spec/template/spec", Lists::Template),
            ("", "PodTemplate") => ("/template/spec", Lists::Template),
            _ => return None,
        },
    )
}

/// RFC 6901: `~` and `/` in a key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The images of `object`, of `request`'s kind.
pub(crate) fn walk(request: &Request, object: &Value) -> Walk {
    let Some((root, lists)) = spec_of(request) else {
        return Walk {
            problems: vec![format!(
                "hallmark does not know where a {}{}{} keeps its images: register the webhook only for pods, replicationcontrollers, podtemplates and the apps/v1 and batch/v1 workloads",
                request.kind.group,
                if request.kind.group.is_empty() {
                    ""
                } else {
                    "/"
                },
                request.kind.kind
            )],
            ..Walk::default()
        };
    };
    let mut walk = Walk {
        pod: matches!(lists, Lists::Pod | Lists::Ephemeral),
        ..Walk::default()
    };
    // A template is optional (a ReplicationController's): no spec, no images.
    let Some(spec) = object.pointer(root) else {
        return walk;
    };
    let dotted = root.trim_start_matches('/').replace('/', ".");
    let names: &[&str] = match lists {
        Lists::Pod => &["initContainers", "containers", "ephemeralContainers"],
        Lists::Ephemeral => &["ephemeralContainers"],
        Lists::Template => &["initContainers", "containers"],
    };
    for list in names {
        containers(spec, root, &dotted, list, &mut walk);
    }
    if matches!(lists, Lists::Pod | Lists::Template) {
        volumes(spec, root, &dotted, &mut walk);
    }
    walk
}

/// The entries of `spec[list]`, or a problem when it is not a list.
fn entries<'a>(spec: &'a Value, list: &str, dotted: &str, walk: &mut Walk) -> &'a [Value] {
    match spec.get(list) {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            walk.problems.push(format!("{dotted}.{list} is not a list"));
            &[]
        }
    }
}

fn containers(spec: &Value, root: &str, dotted: &str, list: &str, walk: &mut Walk) {
    for (i, c) in entries(spec, list, dotted, walk).iter().enumerate() {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let path = format!("{dotted}.{list}[{i}] ({})", super::bounded(name, 63));
        let pointer = format!("{root}/{}/{i}/image", escape(list));
        site(c.get("image"), pointer, path, walk);
    }
}

fn volumes(spec: &Value, root: &str, dotted: &str, walk: &mut Walk) {
    for (j, v) in entries(spec, "volumes", dotted, walk).iter().enumerate() {
        let Some(image) = v.get("image") else {
            continue;
        };
        let name = v.get("name").and_then(Value::as_str).unwrap_or("?");
        let path = format!(
            "{dotted}.volumes[{j}].image.reference ({})",
            super::bounded(name, 63)
        );
        let pointer = format!("{root}/volumes/{j}/image/reference");
        site(image.get("reference"), pointer, path, walk);
    }
}

/// One image field: a string (perhaps empty, when the field is absent), or a problem.
fn site(value: Option<&Value>, pointer: String, path: String, walk: &mut Walk) {
    match value {
        None | Some(Value::Null) => walk.sites.push(Site {
            pointer,
            path,
            image: String::new(),
        }),
        Some(Value::String(s)) => walk.sites.push(Site {
            pointer,
            path,
            image: s.clone(),
        }),
        Some(_) => walk
            .problems
            .push(format!("{path}: the image is not a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(group: &str, kind: &str, resource: &str, sub: Option<&str>) -> Request {
        serde_json::from_value(serde_json::json!({
            "uid": "u", "operation": "CREATE",
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": resource},
            "subResource": sub,
        }))
        .unwrap()
    }

    #[test]
    fn pointers_escape_as_rfc_6901_says() {
        assert_eq!(escape("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn a_template_without_a_spec_has_no_images_and_an_unknown_kind_is_a_problem() {
        let rc = request("", "ReplicationController", "replicationcontrollers", None);
        let w = walk(&rc, &serde_json::json!({"spec": {"replicas": 1}}));
        assert!(w.sites.is_empty() && w.problems.is_empty() && !w.pod);
        let other = request("example.com", "Widget", "widgets", None);
        let w = walk(&other, &serde_json::json!({}));
        assert!(
            w.problems[0].contains("example.com/Widget"),
            "{:?}",
            w.problems
        );
        let pod = request("", "Pod", "pods", None);
        let w = walk(&pod, &serde_json::json!({"spec": {"containers": {"a": 1}}}));
        assert_eq!(w.problems, ["spec.containers is not a list"]);
        let w = walk(
            &pod,
            &serde_json::json!({"spec": {"containers": [{"name": "a", "image": 7}]}}),
        );
        assert_eq!(
            w.problems,
            ["spec.containers[0] (a): the image is not a string"]
        );
    }
}
