//! Tag lists and the catalog, following `Link` pagination, within bounds: a registry that
//! links back to a page it served, serves the same page again, or lists without end is cut
//! off, and the caller learns the list was read only in part ([`Cut`]).

use std::collections::HashSet;
use std::sync::Mutex;

use reqwest::header::HeaderMap;

use super::http::resolve_url;
use super::{Client, RegistryError, Violation};
use crate::digest::Digest;
use crate::oci::MAX_MANIFEST_BYTES;
use crate::reference::ImageRef;

/// Most pages of one list followed.
const MAX_TAG_PAGES: usize = 10_000;

/// How much of one paged list, or of all the lists of a scan, is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Most names kept.
    pub names: usize,
    /// Most bytes of pages read.
    pub bytes: u64,
}

impl ListLimits {
    /// The default bound of one repository's tag list: far above any real repository,
    /// far below what exhausts memory.
    pub const REPOSITORY: Self = Self {
        names: 100_000,
        bytes: 64 * 1024 * 1024,
    };
    /// The default bound of all the tag lists of one scan (and of a catalog).
    pub const SCAN: Self = Self {
        names: 1_000_000,
        bytes: 512 * 1024 * 1024,
    };
}

/// What is left of a bound shared by many lists (the repositories of one scan).
#[derive(Debug)]
pub(crate) struct ListBudget {
    limits: ListLimits,
    left: Mutex<ListLimits>,
}

impl ListBudget {
    /// A budget of `limits`.
    pub(crate) fn new(limits: ListLimits) -> Self {
        Self {
            limits,
            left: Mutex::new(limits),
        }
    }

    fn bytes_left(&self) -> u64 {
        self.left.lock().expect("budget lock").bytes
    }

    fn spend_bytes(&self, bytes: u64) {
        let mut left = self.left.lock().expect("budget lock");
        left.bytes = left.bytes.saturating_sub(bytes);
    }

    /// Grants up to `want` names, at once, so that lists read concurrently never exceed
    /// the budget together.
    fn grant_names(&self, want: usize) -> usize {
        let mut left = self.left.lock().expect("budget lock");
        let granted = want.min(left.names);
        left.names -= granted;
        granted
    }
}

/// Why a list was read only in part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cut {
    /// More names than one list may have.
    #[error("it lists more than {0} names (the limit per list)")]
    Names(usize),
    /// More bytes of pages than one list may have.
    #[error("its pages exceed {0} bytes (the limit per list)")]
    Bytes(u64),
    /// The scan's names are spent.
    #[error("the scan's bound of {0} names in all is reached")]
    ScanNames(usize),
    /// The scan's bytes are spent.
    #[error("the scan's bound of {0} bytes of lists in all is reached")]
    ScanBytes(u64),
    /// A `Link` to a page already read.
    #[error("its Link leads back to a page already read ({0})")]
    Loop(String),
    /// The same page served under another address.
    #[error("the registry served the same page again under another address ({0})")]
    RepeatedPage(String),
    /// Pages without end.
    #[error("it has more than {0} pages")]
    Pages(usize),
    /// A `Link` to another scheme, host or list: what it lists is not this list.
    #[error("its Link leads to another registry or list ({0}), which was not followed")]
    Elsewhere(String),
}

/// A list as read: its names, and why it stopped before its end, if it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The names read (at most the limit).
    pub names: Vec<String>,
    /// Why the list is incomplete, if it is.
    pub cut: Option<Cut>,
}

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        // Registries that send a single link without `rel` mean the next page.
        (is_next || !params.contains("rel")).then(|| target.to_string())
    })
}

/// True when `next` is another page of the list at `current`: same scheme, host, port and
/// path, only the query differs.
fn same_list(current: &str, next: &str) -> bool {
    match (url::Url::parse(current), url::Url::parse(next)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path() == b.path()
        }
        _ => false,
    }
}

/// The names of a tag-list page (`{"tags": […]}`), and nothing else: other fields, however
/// large, are skipped without being built.
fn tag_names(page: &[u8]) -> serde_json::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Page {
        tags: Option<Vec<String>>,
    }
    Ok(serde_json::from_slice::<Page>(page)?
        .tags
        .unwrap_or_default())
}

/// The names of a catalog page (`{"repositories": […]}`).
fn repository_names(page: &[u8]) -> serde_json::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Page {
        repositories: Option<Vec<String>>,
    }
    Ok(serde_json::from_slice::<Page>(page)?
        .repositories
        .unwrap_or_default())
}

/// Keeps the names of one page that still fit, and says what cut the rest: the list's own
/// limit first, then the shared budget.
fn fit(
    kept: usize,
    page: &mut Vec<String>,
    limits: ListLimits,
    budget: Option<&ListBudget>,
) -> Option<Cut> {
    let own = limits.names.saturating_sub(kept);
    let over_own = page.len() > own;
    page.truncate(own);
    let want = page.len();
    let granted = budget.map_or(want, |b| b.grant_names(want));
    if granted < want {
        page.truncate(granted);
        return Some(Cut::ScanNames(budget.map_or(0, |b| b.limits.names)));
    }
    over_own.then_some(Cut::Names(limits.names))
}

impl Client {
    /// Lists every tag of the repository, following `Link` pagination; a repository that
    /// does not exist has none.
    pub async fn list_tags(&self, r: &ImageRef) -> Result<Vec<String>, RegistryError> {
        Ok(self.list_tags_paged(r, 1000).await?.unwrap_or_default())
    }

    /// [`Client::list_tags`] asking for `page` tags per request; `None` when the repository
    /// does not exist (or stopped existing between two pages). A list longer than
    /// [`ListLimits::REPOSITORY`], or one that loops, is an error.
    pub async fn list_tags_paged(
        &self,
        r: &ImageRef,
        page: usize,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let url = self.repo_url(r, &format!("tags/list?n={page}")).await;
        match self
            .paged_names(r, url.clone(), tag_names, ListLimits::REPOSITORY, None)
            .await?
        {
            None => Ok(None),
            Some(Listed { names, cut: None }) => Ok(Some(names)),
            Some(Listed { cut: Some(cut), .. }) => Err(RegistryError::Protocol {
                url,
                violation: Violation::Incomplete(cut),
            }),
        }
    }

    /// The tag list of `r`, `page` tags per request, read within `limits` and what is left
    /// of `budget`; `None` when the repository does not exist. A list cut short keeps the
    /// names read and says why ([`Listed::cut`]).
    pub(crate) async fn list_tags_within(
        &self,
        r: &ImageRef,
        page: usize,
        limits: ListLimits,
        budget: &ListBudget,
    ) -> Result<Option<Listed>, RegistryError> {
        let url = self.repo_url(r, &format!("tags/list?n={page}")).await;
        self.paged_names(r, url, tag_names, limits, Some(budget))
            .await
    }

    /// Every repository of the registry `r` is on (`/v2/_catalog`), following `Link`
    /// pagination, `page` names per request, read within `limits`.
    pub async fn catalog(
        &self,
        r: &ImageRef,
        page: usize,
        limits: ListLimits,
    ) -> Result<Listed, RegistryError> {
        let url = format!("{}/v2/_catalog?n={page}", self.base_url(r).await);
        match self
            .paged_names(r, url.clone(), repository_names, limits, None)
            .await?
        {
            Some(listed) => Ok(listed),
            None => Err(RegistryError::Status {
                url,
                status: 404,
                message: " (the registry does not list its repositories)".into(),
            }),
        }
    }

    /// Reads a paged list of names (`{"tags": […]}`, `{"repositories": […]}`) one page at
    /// a time, keeping only the names; `None` when a page is not found.
    async fn paged_names(
        &self,
        r: &ImageRef,
        first: String,
        parse: fn(&[u8]) -> serde_json::Result<Vec<String>>,
        limits: ListLimits,
        budget: Option<&ListBudget>,
    ) -> Result<Option<Listed>, RegistryError> {
        let mut names = Vec::new();
        let mut read: u64 = 0;
        let mut urls = HashSet::new();
        let mut pages = HashSet::new();
        let mut url = first;
        let cut = |names: Vec<String>, cut: Cut| {
            Ok(Some(Listed {
                names,
                cut: Some(cut),
            }))
        };
        for _ in 0..MAX_TAG_PAGES {
            if !urls.insert(url.clone()) {
                return cut(names, Cut::Loop(url));
            }
            let own_room = limits.bytes.saturating_sub(read);
            let shared_room = budget.map_or(u64::MAX, ListBudget::bytes_left);
            let bytes_cut = if own_room <= shared_room {
                Cut::Bytes(limits.bytes)
            } else {
                Cut::ScanBytes(budget.map_or(0, |b| b.limits.bytes))
            };
            let room = own_room.min(shared_room);
            if room == 0 {
                return cut(names, bytes_cut);
            }
            let Some(resp) = self.get_found(r, &url, HeaderMap::new()).await? else {
                return Ok(None);
            };
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let cap = room.min(MAX_MANIFEST_BYTES);
            let body = match self.read_small(resp, cap, &url).await {
                Ok(body) => body,
                Err(RegistryError::TooLarge { .. }) if cap < MAX_MANIFEST_BYTES => {
                    return cut(names, bytes_cut);
                }
                Err(e) => return Err(e),
            };
            read += body.len() as u64;
            if let Some(b) = budget {
                b.spend_bytes(body.len() as u64);
            }
            if !pages.insert(Digest::sha256(&body)) {
                return cut(names, Cut::RepeatedPage(url));
            }
            let mut page = parse(&body).map_err(|e| RegistryError::Protocol {
                url: url.clone(),
                violation: Violation::TagList(e),
            })?;
            drop(body);
            let over = fit(names.len(), &mut page, limits, budget);
            names.append(&mut page);
            if let Some(c) = over {
                return cut(names, c);
            }
            match next {
                Some(n) => {
                    let next =
                        resolve_url(&url, &n).map_err(|violation| RegistryError::Protocol {
                            url: url.clone(),
                            violation,
                        })?;
                    // Names served elsewhere would be taken for this list's own.
                    if !same_list(&url, &next) {
                        return cut(names, Cut::Elsewhere(next));
                    }
                    url = next;
                }
                None => return Ok(Some(Listed { names, cut: None })),
            }
        }
        cut(names, Cut::Pages(MAX_TAG_PAGES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://a/prev>; rel="prev", <https://a/next>; rel="next""#).as_deref(),
            Some("https://a/next")
        );
        assert_eq!(next_link("</x>").as_deref(), Some("/x"));
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("<unterminated; rel=next"), None);
    }

    #[test]
    fn links_stay_on_the_list() {
        let here = "http://127.0.0.1:5000/v2/app/tags/list?n=2";
        for next in [
            "http://127.0.0.1:5000/v2/app/tags/list?n=2&last=b",
            "http://127.0.0.1:5000/v2/app/tags/list",
        ] {
            assert!(same_list(here, next), "{next}");
        }
        for next in [
            "http://127.0.0.1:5001/v2/app/tags/list?n=2&last=b",
            "https://127.0.0.1:5000/v2/app/tags/list?n=2&last=b",
            "http://localhost:5000/v2/app/tags/list?n=2&last=b",
            "http://127.0.0.1:5000/v2/other/tags/list?n=2&last=b",
            "http://127.0.0.1:5000/v2/_catalog?n=2",
            "not a url",
        ] {
            assert!(!same_list(here, next), "{next}");
        }
        // A default port written out is the same origin.
        assert!(same_list(
            "https://reg.example.com/v2/_catalog?n=2",
            "https://reg.example.com:443/v2/_catalog?n=2&last=a"
        ));
    }

    #[test]
    fn pages_give_their_names_only() {
        assert_eq!(
            tag_names(br#"{"name":"a","tags":["v1","v2"],"pad":"xxxx"}"#).unwrap(),
            ["v1", "v2"]
        );
        assert!(
            tag_names(br#"{"name":"a","tags":null}"#)
                .unwrap()
                .is_empty()
        );
        assert!(tag_names(br#"{"name":"a"}"#).unwrap().is_empty());
        assert!(tag_names(br#"{"tags":"v1"}"#).is_err());
        assert!(tag_names(b"[]").is_err());
        assert_eq!(
            repository_names(br#"{"repositories":["team/app"]}"#).unwrap(),
            ["team/app"]
        );
        assert!(repository_names(br#"{"tags":["v1"]}"#).unwrap().is_empty());
    }

    fn page(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn a_list_keeps_no_more_names_than_its_limit() {
        let limits = ListLimits {
            names: 5,
            bytes: 1000,
        };
        let mut p = page(3);
        assert_eq!(fit(0, &mut p, limits, None), None);
        assert_eq!(p.len(), 3);
        let mut p = page(3);
        assert_eq!(fit(3, &mut p, limits, None), Some(Cut::Names(5)));
        assert_eq!(p.len(), 2);
        // Exactly at the limit is not cut: the list may end there.
        let mut p = page(2);
        assert_eq!(fit(3, &mut p, limits, None), None);
    }

    #[test]
    fn lists_read_together_share_one_budget() {
        let limits = ListLimits {
            names: 100,
            bytes: 1000,
        };
        let budget = ListBudget::new(ListLimits {
            names: 6,
            bytes: 1000,
        });
        let mut p = page(4);
        assert_eq!(fit(0, &mut p, limits, Some(&budget)), None);
        let mut p = page(4);
        assert_eq!(
            fit(0, &mut p, limits, Some(&budget)),
            Some(Cut::ScanNames(6))
        );
        assert_eq!(p.len(), 2);
        let mut p = page(1);
        assert_eq!(
            fit(0, &mut p, limits, Some(&budget)),
            Some(Cut::ScanNames(6))
        );
        assert!(p.is_empty());
        // The list's own limit is named when it is the tighter one.
        let budget = ListBudget::new(ListLimits {
            names: 1000,
            bytes: 1000,
        });
        let mut p = page(150);
        assert_eq!(fit(0, &mut p, limits, Some(&budget)), Some(Cut::Names(100)));
        assert_eq!(budget.grant_names(usize::MAX), 900);
    }
}
